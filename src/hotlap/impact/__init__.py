"""Impacted-test selection: what each test depends on, and which tests a change affects."""

#: Version of the per-process files the plugin writes and the app merges. 2: a context's
#: ``codes`` are indexes into the file's ``code_table`` of ``[filename, line, is_module]``.
PROCESS_FILE_VERSION = 2
#: Beside each per-process file: ``{"ended_ns": …, "digests": {path: checksum}}``, what the
#: process left in the project files it wrote, as it ended.
WRITES_SUFFIX = ".writes"
