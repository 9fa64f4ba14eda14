"""Where an index lives: its manifest (``manifest``), its vectors behind FAISS (``vectors``), the directory
written atomically and read back checked (``directory``), and the whole read into memory (``stored``)."""
