"""The buffer between parsing and the lake: dense windows, written chunk by chunk.

Samples are scattered into dense arrays aligned with the lake's chunks: one
window a (chunk span, key). A window holds only the stretch of its span that
has data (it grows as the stream goes), so a few hours of 1-minute data do not
allocate a chunk's 60 days. Memory is kept under ``ingest.buffer_mb``:

1. windows the (time-ordered) stream has moved past are written to the lake,
   one lake chunk (asset group × signal × span) at a time, and freed;
2. when the open windows alone pass the budget, the biggest are *spilled*:
   their filled stretch goes, as raw arrays, to a scratch file (deleted when
   the buffer closes), and the window starts again empty. A spilled sample is
   written to the scratch file once and read back once, when its chunk is
   assembled (spilled stretches replayed in file order, then what is still in
   memory) and written.

So each lake chunk is written once per file where the file is in time order,
whatever the number of tags, and the bytes written to the lake stay
proportional to the data (no whole-chunk rewrites on every batch).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable

import numpy as np
import pandas as pd

from .. import config
from ..lake import Transaction, cadence_seconds
from .readers import NO_QUALITY, Reader, Records, RowLedger

#: cells a new window holds at least (it grows by doubling, up to the chunk span)
MIN_CELLS = 1024
#: bytes of one lake write (value, quality and present of whole asset chunks)
BLOCK_BYTES = 64 * 2**20


class _Window:
    """Dense arrays for cells ``[lo, lo + n)`` of one window (chunk span, key)."""

    __slots__ = ("line", "lo", "present", "quality", "rown", "value")
    CELL_BYTES = 8 + 2 + 4 + 1  # value, quality, line, present (+ 4 for rown, wide files)
    LINE_MAX = np.iinfo(np.int32).max

    def __init__(self, lo: int, n: int, wide: bool = False, big_lines: bool = False):
        self.lo = lo
        self.value = np.full(n, np.nan)
        self.quality = np.full(n, NO_QUALITY, dtype=np.int16)
        self.line = np.zeros(n, dtype=np.int64 if big_lines else np.int32)
        self.present = np.zeros(n, dtype=bool)
        #: samples the cell's source row gave (wide layout: a lost cell may leave others)
        self.rown = np.zeros(n, dtype=np.int32) if wide else None

    @property
    def hi(self) -> int:
        return self.lo + len(self.value)

    @property
    def nbytes(self) -> int:
        n = self.value.nbytes + self.quality.nbytes + self.line.nbytes + self.present.nbytes
        return n + (0 if self.rown is None else self.rown.nbytes)

    def put(self, at, value, quality, line, rown=None) -> None:
        """Cells ``at`` (a slice or positions relative to ``lo``) take these samples."""
        self.value[at] = value
        self.quality[at] = quality
        self.line[at] = line
        self.present[at] = True
        if self.rown is not None:
            self.rown[at] = rown

    def grow(self, lo: int, hi: int, span: int) -> None:
        """Cover cells ``[lo, hi)`` (doubling, within ``[0, span)``), keeping the data."""
        if lo >= self.lo and hi <= self.hi:
            return
        need_lo, need_hi = min(lo, self.lo), max(hi, self.hi)
        size = max(need_hi - need_lo, min(2 * len(self.value), span))
        if hi > self.hi:   # growing forward (time order): the slack goes ahead
            new_hi = min(span, need_lo + size)
            new_lo = max(0, new_hi - size) if new_hi - need_lo < size else need_lo
        else:
            new_lo = max(0, need_hi - size)
            new_hi = min(span, new_lo + size)
        new = _Window(new_lo, new_hi - new_lo, self.rown is not None,
                      self.line.dtype == np.int64)
        a = self.lo - new_lo
        sl = slice(a, a + len(self.value))
        new.value[sl], new.quality[sl] = self.value, self.quality
        new.line[sl], new.present[sl] = self.line, self.present
        if self.rown is not None:
            new.rown[sl] = self.rown
        self.lo, self.value, self.quality = new.lo, new.value, new.quality
        self.line, self.present, self.rown = new.line, new.present, new.rown


class _Spill:
    """Filled stretches of windows in a scratch file, read back once each."""

    FIELDS = ("value", "quality", "line", "present", "rown")

    def __init__(self):
        self.file = None
        self.segments: dict[tuple[int, int], list[tuple]] = {}
        self.bytes = 0

    def put(self, key: tuple[int, int], wb: _Window) -> None:
        """Append the filled stretch of ``wb`` (nothing when it holds no cell)."""
        idx = np.flatnonzero(wb.present)
        if not len(idx):
            return
        a, b = int(idx[0]), int(idx[-1]) + 1
        if self.file is None:
            self.file = tempfile.TemporaryFile(prefix="pumplib-ingest-spill-")  # noqa: SIM115
        self.file.seek(0, 2)
        off = self.file.tell()
        dtypes = []
        for name in self.FIELDS:
            arr = getattr(wb, name)
            if arr is None:
                dtypes.append(None)
                continue
            part = np.ascontiguousarray(arr[a:b])
            self.file.write(memoryview(part).cast("B"))
            dtypes.append(part.dtype)
            self.bytes += part.nbytes
        self.segments.setdefault(key, []).append((wb.lo + a, b - a, off, tuple(dtypes)))

    def take(self, key: tuple[int, int]) -> list[_Window]:
        """The stretches spilled for ``key``, oldest first (and forgotten here)."""
        out = []
        for lo, n, off, dtypes in self.segments.pop(key, ()):
            wb = _Window(lo, 0)
            self.file.seek(off)
            for name, dt in zip(self.FIELDS, dtypes, strict=True):
                if dt is None:
                    setattr(wb, name, None)
                    continue
                arr = np.empty(n, dtype=dt)
                self.file.readinto(memoryview(arr).cast("B"))
                setattr(wb, name, arr)
            out.append(wb)
        return out

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        self.segments.clear()


class GridBuffer:
    """Dense per-window buffers between parsing and the lake.

    Samples are scattered into arrays aligned with the lake's chunks, one
    window (chunk span) per (asset, signal). Windows that the stream has moved
    past are merged into the lake and freed; when the open windows pass
    ``ingest.buffer_mb`` the biggest are spilled to a scratch file (see the
    module's notes), so memory is bounded by the budget, not by the file size
    or the number of tags. Within one file the later of two rows for the same
    cell wins; the other is quarantined unless it holds the same value (then
    it is a plain duplicate and counted).
    """

    def __init__(self, tx: Transaction, cadence: str, reader: Reader, rep, run_id: str):
        self.tx, self.cadence, self.reader, self.rep = tx, cadence, reader, rep
        self.step_ns = cadence_seconds(cadence) * 10**9
        self.span = int(config.get("lake.chunk_samples"))
        self.windows: dict[tuple[int, int], _Window] = {}  # (window, key) → buffer
        self.written = 0
        self.keys_seen: set[int] = set()
        self.rejects: list[dict] = []
        #: rows ingested but worth knowing about (out of time order), for quality
        self.notes: list[dict] = []
        self._last_cell: dict[int, int] = {}
        self.has_quality = bool(reader.fmt.quality)
        self.max_bytes = int(config.get("ingest.buffer_mb")) * 2**20
        self.origin_cell: int | None = None
        self._current = None
        self._big_lines = False
        self._nbytes = 0
        self.spill = _Spill()
        #: lake chunk writes (``write_block`` calls) and spills, for benchmarks and tests
        self.blocks_written = 0
        self.spills = 0

    def _out_of_order(self, k: int, cells: np.ndarray, lines: np.ndarray) -> None:
        """Note rows (in file order, one key) that come after a later time of the same key."""
        prev = self._last_cell.get(k, np.iinfo(np.int64).min)
        if cells[0] > prev and (len(cells) == 1 or (cells[1:] > cells[:-1]).all()):
            self._last_cell[k] = int(cells[-1])
            return
        run = np.maximum.accumulate(np.r_[prev, cells])
        late = np.flatnonzero(cells < run[:-1])
        self._last_cell[k] = int(run[-1])
        key = self.reader.keys[k]
        for i in late:
            t = pd.Timestamp(int(cells[i]) * self.step_ns, tz="UTC")
            self.notes.append({
                "line": int(lines[i]), "column": self.reader.fmt.timestamp, "raw": t.isoformat(),
                "reason": f"out-of-order row: {key.asset}/{key.signal} at {t.isoformat()} comes "
                          f"after a later time; ingested in its place",
                "timestamp": t.isoformat(), "tag": key.tag, "asset": key.asset,
                "signal": key.signal})
        self.rep.out_of_order_rows += len(late)

    def add(self, rec: Records) -> None:
        if not len(rec):
            return
        cell = rec.time_ns / self.step_ns
        np.rint(cell, out=cell)
        cell = cell.astype(np.int64)  # steps since epoch
        cmin, cmax = int(cell.min()), int(cell.max())
        if self.origin_cell is None:
            step_s = self.step_ns // 10**9
            self.origin_cell = self.tx.origin(self.cadence, cmin * step_s) // step_s
        # windows are aligned with the lake's chunks
        w0 = (cmin - self.origin_cell) // self.span
        self._current = (cmax - self.origin_cell) // self.span
        nkeys = len(self.reader.keys)
        if w0 == self._current:  # the usual case: the batch lies in one window
            gid = rec.key
        else:
            win = (cell - self.origin_cell) // self.span
            gid = (win - w0) * nkeys + rec.key
        dtype = np.int16 if gid.max() < 2**15 else np.int64
        order = np.argsort(gid.astype(dtype), kind="stable")  # radix sort for small ints
        g_sorted = gid[order]
        bounds = np.flatnonzero(np.diff(g_sorted)) + 1
        starts = np.r_[0, bounds]
        ends = np.r_[bounds, len(order)]
        self._big_lines = bool(rec.line.max() > _Window.LINE_MAX)
        # gather once in group order; each group is then a slice
        if w0 != self._current:  # groups split by window: check time order per key first
            korder = np.argsort(rec.key.astype(dtype), kind="stable")
            kk = rec.key[korder]
            kb = np.r_[0, np.flatnonzero(np.diff(kk)) + 1, len(kk)]
            for a, b in zip(kb[:-1], kb[1:], strict=True):
                self._out_of_order(int(kk[a]), cell[korder[a:b]], rec.line[korder[a:b]])
        cell, value, quality, line = cell[order], rec.value[order], rec.quality[order], \
            rec.line[order]
        rown = None if rec.row_n is None else rec.row_n[order]
        for s, e in zip(starts, ends, strict=True):
            g = int(g_sorted[s])
            w, k = w0 + g // nkeys, g % nkeys
            self.keys_seen.add(k)
            if w0 == self._current:  # one group per key, in file order
                self._out_of_order(k, cell[s:e], line[s:e])
            pos = cell[s:e] - (self.origin_cell + w * self.span)
            pmin, pmax = int(pos.min()), int(pos.max())
            wb = self.windows.get((w, k))
            if wb is None:
                n = min(max(pmax + 1 - pmin, MIN_CELLS), self.span)
                lo = max(0, min(pmin, self.span - n))
                wb = self.windows[(w, k)] = _Window(lo, n, rown is not None, self._big_lines)
                self._nbytes += wb.nbytes
            elif pmin < wb.lo or pmax >= wb.hi:
                before = wb.nbytes
                wb.grow(pmin, pmax + 1, self.span)
                self._nbytes += wb.nbytes - before
            self._scatter(wb, pos - wb.lo, value[s:e], quality[s:e], line[s:e], w, k,
                          None if rown is None else rown[s:e])
        if self._nbytes > self.max_bytes:
            cur = self._current
            self._flush(lambda w: w < cur)
            if self._nbytes > self.max_bytes:
                self._spill_biggest(self.max_bytes // 2)

    def _spill_biggest(self, target: int) -> None:
        """Spill the biggest windows until the open ones take at most ``target`` bytes."""
        self.spills += 1
        for key in sorted(self.windows, key=lambda x: -self.windows[x].nbytes):
            if self._nbytes <= target:
                break
            wb = self.windows.pop(key)
            self._nbytes -= wb.nbytes
            self.spill.put(key, wb)

    def _scatter(self, wb: _Window, pos, value, quality, line, w, k, rown=None) -> None:
        """Cells at ``pos`` (relative to ``wb.lo``) of window ``w``, key ``k``."""
        if self._big_lines and wb.line.dtype != np.int64:
            self._nbytes += wb.line.nbytes
            wb.line = wb.line.astype(np.int64)  # a file of more than 2**31 lines
        # rows of a group keep file order: strictly increasing positions (time
        # order, the usual case) cannot repeat a cell
        increasing = len(pos) == 1 or (pos[1:] > pos[:-1]).all()
        if increasing and pos[-1] - pos[0] == len(pos) - 1:
            # a gapless run of steps (the usual case): slices, not fancy indexing
            sl = slice(int(pos[0]), int(pos[-1]) + 1)
            if not wb.present[sl].any():
                wb.put(sl, value, quality, line, rown)
                return
        dup_in_batch = not increasing and (np.bincount(pos)[pos] > 1).any()
        if dup_in_batch or wb.present[pos].any():
            self._resolve_duplicates(wb, pos, value, quality, line, w, k, rown)
            return
        wb.put(pos, value, quality, line, rown)

    def _resolve_duplicates(self, wb, pos, value, quality, line, w, k, rown=None) -> None:
        key = self.reader.keys[k]
        ledger = self.reader.ledger
        if rown is None:
            rown = np.ones(len(pos), dtype=np.int32)
        for p, v, q, ln, rn in zip(pos, value, quality, line, rown, strict=True):
            if wb.present[p]:
                old_v = wb.value[p]
                same = (old_v == v) or (np.isnan(old_v) and np.isnan(v))
                t = pd.Timestamp((self.origin_cell + w * self.span + wb.lo + int(p))
                                 * self.step_ns, tz="UTC")
                if same:
                    # the copy is kept in the quarantine, the first row in the lake
                    self.rep.samples_duplicate += 1
                    ledger.mark(int(ln), RowLedger.DUPLICATE, int(rn), 1)
                    self.rejects.append({
                        "line": int(ln), "column": self.reader.fmt.value, "raw": str(v),
                        "reason": f"duplicate row: same value as line {int(wb.line[p])} for "
                                  f"{key.asset}/{key.signal} at {t.isoformat()}",
                        "timestamp": t.isoformat(), "tag": key.tag, "asset": key.asset,
                        "signal": key.signal})
                    continue
                else:
                    self.rejects.append({
                        "line": int(wb.line[p]), "column": self.reader.fmt.value, "raw": str(old_v),
                        "reason": f"conflicting duplicate: line {ln} has {float(v)!r} for the same "
                                  f"{key.asset}/{key.signal} at {t.isoformat()} and wins "
                                  "(the later row)",
                        "timestamp": t.isoformat(), "tag": key.tag, "asset": key.asset,
                        "signal": key.signal})
                    self.rep.conflicts_quarantined += 1
                    self.rep.samples_quarantined += 1
                    ledger.mark(int(wb.line[p]), RowLedger.QUARANTINED,
                                1 if wb.rown is None else int(wb.rown[p]), 1)
            wb.value[p], wb.quality[p], wb.line[p], wb.present[p] = v, q, ln, True
            if wb.rown is not None:
                wb.rown[p] = rn

    def nbytes(self) -> int:
        """Memory of the open windows (spilled stretches are on disk, not counted)."""
        return self._nbytes

    def flush_before_current(self) -> None:
        """Write windows the (time-ordered) stream has moved past."""
        if self._current is not None:
            cur = self._current
            self._flush(lambda w: w < cur)

    def flush_all(self) -> None:
        self._flush(lambda w: True)

    def close(self) -> None:
        """Drop the scratch file (call after :meth:`flush_all`, or on failure)."""
        self.spill.close()

    def _assemble(self, w: int, k: int) -> _Window | None:
        """Window ``(w, k)`` whole: its spilled stretches replayed in file order (later rows
        win, duplicates are accounted as if they had met in memory), then the open part."""
        wb = self.windows.pop((w, k), None)
        if wb is not None:
            self._nbytes -= wb.nbytes
        parts = self.spill.take((w, k))
        if not parts:
            return wb
        if wb is not None:
            parts.append(wb)
        lo, hi = min(p.lo for p in parts), max(p.hi for p in parts)
        big = any(p.line.dtype == np.int64 for p in parts)
        out = _Window(lo, hi - lo, parts[0].rown is not None, big)
        for p in parts:
            idx = np.flatnonzero(p.present)
            if len(idx):
                self._scatter(out, idx + (p.lo - lo), p.value[idx], p.quality[idx],
                              p.line[idx], w, k, None if p.rown is None else p.rown[idx])
        return out

    def _flush(self, which: Callable[[int], bool]) -> None:
        """Write the windows ``which`` picks, one lake chunk (asset group × signal) a call."""
        todo = sorted({key for key in self.windows if which(key[0])}
                      | {key for key in self.spill.segments if which(key[0])})
        if not todo:
            return
        by_sig: dict[tuple[int, str], list[int]] = {}
        for w, k in todo:
            by_sig.setdefault((w, self.reader.keys[k].signal), []).append(k)
        step_s = self.step_ns // 10**9
        g = self.tx.group(self.cadence)
        per_chunk = self.tx._asset_chunk(g)
        known = {a: i for i, a in enumerate(self.tx.assets(self.cadence))}
        for (w, signal), keys in by_sig.items():
            # the lake rows the assets will take (new ones are appended in this order),
            # so each write covers whole asset chunks
            groups: dict[int, list[int]] = {}
            for k in keys:
                asset = self.reader.keys[k].asset
                if asset not in known:
                    known[asset] = len(known)
                groups.setdefault(known[asset] // per_chunk, []).append(k)
            # whole asset chunks go together in one write up to BLOCK_BYTES (zarr stores a
            # call's chunks concurrently; one call a chunk costs more than it writes)
            batch: list[int] = []
            lo, hi = self.span, 0
            for _, ks in sorted(groups.items()):
                for k in ks:
                    a, b = self._extent(w, k)
                    lo, hi = min(lo, a), max(hi, b)
                if batch and (len(batch) + len(ks)) * (hi - lo) * 11 > BLOCK_BYTES:
                    self._write_chunk(w, signal, batch, step_s)
                    batch = []
                    lo, hi = self.span, 0
                    for k in ks:
                        a, b = self._extent(w, k)
                        lo, hi = min(lo, a), max(hi, b)
                batch.extend(ks)
            if batch:
                self._write_chunk(w, signal, batch, step_s)

    def _extent(self, w: int, k: int) -> tuple[int, int]:
        """Cells ``[lo, hi)`` that window ``(w, k)`` spans, in memory and spilled."""
        spans = [(lo, lo + n) for lo, n, _, _ in self.spill.segments.get((w, k), ())]
        wb = self.windows.get((w, k))
        if wb is not None:
            spans.append((wb.lo, wb.hi))
        return min(a for a, _ in spans), max(b for _, b in spans)

    def _write_chunk(self, w: int, signal: str, keys: list[int], step_s: int) -> None:
        wins = [(self.reader.keys[k].asset, self._assemble(w, k)) for k in keys]
        wins = [(a, b) for a, b in wins if b is not None]
        if not wins:
            return
        lo, hi = min(b.lo for _, b in wins), max(b.hi for _, b in wins)
        n = hi - lo
        values = np.full((len(wins), n), np.nan)
        present = np.zeros((len(wins), n), dtype=bool)
        sq = np.full((len(wins), n), NO_QUALITY, dtype=np.int16) if self.has_quality else None
        for i, (_, b) in enumerate(wins):
            sl = slice(b.lo - lo, b.hi - lo)
            values[i, sl], present[i, sl] = b.value, b.present
            if sq is not None:
                sq[i, sl] = b.quality
        assets = [a for a, _ in wins]
        del wins
        self.written += int(present.sum())
        self.blocks_written += 1
        self.tx.write_block(self.cadence, assets, signal,
                            (self.origin_cell + w * self.span + lo) * step_s, values, present, sq)
