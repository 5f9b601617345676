"""The live path: MQTT (and OPC UA) samples into the raw lake within the minute, nothing lost.

Samples land in a local write-ahead log (:class:`SampleLog`) before the broker
is acknowledged; a committer writes the log into the raw lake at each minute's
close through the batch ingest's own code, then truncates it. Heavy or optional
dependencies (paho-mqtt, asyncua) are imported by the modules that use them,
never by ``import pumplib``.
"""

from .wal import Sample, SampleLog

__all__ = ["Sample", "SampleLog"]
