"""Where an index lives: its manifest (``manifest``), the directory written atomically and read back checked
(``directory``), what ``Index`` needs from any store (``protocol``), the FAISS store (``faiss_store``, over
``vectors``), the Milvus store (``milvus_store``), and which of them an index uses (``stores``)."""
