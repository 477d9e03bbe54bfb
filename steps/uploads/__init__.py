"""Upload actions (reference 004 UploadFile*): one module per remote store, base.py shared."""
