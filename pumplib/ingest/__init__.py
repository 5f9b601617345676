"""Ingestion of historian exports into the raw lake.

Examples
--------
>>> from pumplib.ingest import ingest, formats
>>> sorted(formats())[:3]
['batadal', 'long_csv', 'long_parquet']
"""

from .core import FileReport, IngestResult, expand_paths, file_sha256, ingest
from .formats import (
    ColumnRule,
    Format,
    detect_format,
    formats,
    get_format,
    load_formats,
    register_format,
)
from .readers import Reader

__all__ = ["ColumnRule", "FileReport", "Format", "detect_format", "IngestResult", "Reader", "expand_paths",
           "file_sha256", "formats", "get_format", "ingest", "load_formats", "register_format"]
