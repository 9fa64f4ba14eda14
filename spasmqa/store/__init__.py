"""Where an index lives: its manifest (``manifest``), the directory written atomically and read back checked
(``directory``), what ``Index`` needs from any store (``protocol``), the FAISS store (``faiss_store``, over
``vectors``), the Milvus store (``milvus_client``, ``milvus_store`` reading, ``milvus_write`` writing), the
vectors a build writes (``reuse``), and which store an index uses (``stores``)."""
