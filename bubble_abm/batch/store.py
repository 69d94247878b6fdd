"""A batch folder: manifest, lock, Parquet part files written atomically, and the loader.

Layout and resume rules are described in :mod:`bubble_abm.batch`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bubble_abm.batch.plan import UNCOMPARED_SPEC_KEYS, BatchError, BatchPlan, _plain
from bubble_abm.batch.run import (
    _ID_COLUMNS,
    _QUARTER_ID_COLUMNS,
    _RUN_INFO_COLUMNS,
    EVENT_TABLE_COLUMNS,
    SUMMARY_COLUMNS,
    RunResult,
    _arrow_type,
    _package_version,
)

#: The three datasets of a batch folder, one sub-folder each.
DATASETS = ("runs", "quarters", "events")
MANIFEST = "manifest.json"
LOCK = ".lock"
PART_PREFIX = "part-"
PART_SUFFIX = ".parquet"

#: Runs per part file and the longest time results wait in memory before they are written.
DEFAULT_CHUNK_RUNS = 20
DEFAULT_FLUSH_SECONDS = 10.0


# --- the batch folder ---------------------------------------------------------------------------
def read_manifest(out: str | Path) -> dict[str, Any]:
    """The manifest of a batch folder (``spec``, ``package_version``, ``created``)."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise BatchError(f"{out}: not a batch folder (no {MANIFEST})")
    return json.loads(path.read_text(encoding="utf-8"))


def _spec_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    keys = sorted((set(old) | set(new)) - UNCOMPARED_SPEC_KEYS)
    return [key for key in keys if old.get(key) != new.get(key)]


def _parts(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.name.startswith(PART_PREFIX) and p.name.endswith(PART_SUFFIX))


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class _Store:
    """Writes a batch folder: manifest, lock, part files (see the module docstring)."""

    def __init__(self, out: Path, plan: BatchPlan, chunk_runs: int, flush_seconds: float):
        self.out = out
        self.plan = plan
        self.chunk_runs = max(1, int(chunk_runs))
        self.flush_seconds = float(flush_seconds)
        self.buffer: list[RunResult] = []
        self.last_flush = time.monotonic()
        self.next_part = 0
        self._lock: Any = None
        schema = {**_ID_COLUMNS, **{k: _arrow_type(k) for k in plan.param_columns},
                  **_RUN_INFO_COLUMNS, **SUMMARY_COLUMNS}
        clash = set(plan.param_columns) & (set(_ID_COLUMNS) | set(_RUN_INFO_COLUMNS)
                                           | set(SUMMARY_COLUMNS))
        if clash:  # pragma: no cover - guarded by a test on the column names
            raise BatchError(f"parameter name(s) clash with run columns: {sorted(clash)}")
        self.run_schema = pa.schema(list(schema.items()))
        self.event_schema = pa.schema(list(EVENT_TABLE_COLUMNS.items()))

    # opening: manifest, lock, orphans
    def check(self) -> None:
        """Fail unless ``out`` is new, empty, or a batch folder of the same plan."""
        out = self.out
        if out.exists() and not out.is_dir():
            raise BatchError(f"--out {out}: exists and is not a folder")
        if (out / MANIFEST).is_file():
            differ = _spec_differences(read_manifest(out).get("spec", {}), self.plan.to_spec())
            if differ:
                raise BatchError(
                    f"--out {out} holds a different batch (differs in: {', '.join(differ)}); "
                    "re-run the same command to resume it, or choose a new --out folder")
        elif out.is_dir() and any(out.iterdir()):
            raise BatchError(f"--out {out}: folder is not empty and holds no batch "
                             f"({MANIFEST} missing); choose a new or empty folder")

    def open(self) -> _Store:
        """Check, create the folders, take the lock, write the manifest, drop orphan parts."""
        self.check()
        out = self.out
        spec = self.plan.to_spec()
        manifest = out / MANIFEST
        for name in DATASETS:
            (out / name).mkdir(parents=True, exist_ok=True)
        self._take_lock()
        if not manifest.is_file():
            text = json.dumps({"spec": spec, "package_version": _package_version(),
                               "created": datetime.now(UTC).isoformat(timespec="seconds")},
                              indent=1, sort_keys=True)
            tmp = manifest.with_name(f".tmp-{os.getpid()}-{MANIFEST}")
            tmp.write_text(text + "\n", encoding="utf-8")
            os.replace(tmp, manifest)
        self._clean()
        numbers = [int(p.stem[len(PART_PREFIX):]) for p in _parts(out / "runs")
                   if p.stem[len(PART_PREFIX):].isdigit()]
        self.next_part = max(numbers, default=-1) + 1
        return self

    def _take_lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX: no lock
            return
        handle = open(self.out / LOCK, "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise BatchError(f"--out {self.out}: another batch process is writing there") from None
        self._lock = handle

    def _clean(self) -> None:
        """Remove temporary files and quarters/events parts whose runs part never landed."""
        done = {p.name for p in _parts(self.out / "runs")}
        for name in DATASETS:
            folder = self.out / name
            for path in folder.iterdir():
                if path.name.startswith(".tmp-"):
                    path.unlink(missing_ok=True)
            if name != "runs":
                for path in _parts(folder):
                    if path.name not in done:
                        path.unlink(missing_ok=True)

    def compact(self, runs_per_part: int = 1000) -> int:
        """Merge consecutive part files into parts of up to ``runs_per_part`` runs; returns how
        many merged parts were written (see :meth:`_merge` for why a kill is safe)."""
        self.flush()
        groups: list[list[str]] = [[]]
        count = 0
        for path in _parts(self.out / "runs"):
            rows = pq.read_metadata(path).num_rows
            if groups[-1] and count + rows > runs_per_part:
                groups.append([])
                count = 0
            groups[-1].append(path.name)
            count += rows
        merged = [names for names in groups if len(names) > 1]
        for names in merged:
            self._merge(names)
        return len(merged)

    def _merge(self, names: list[str]) -> None:
        """Replace the chunks ``names`` by one. The new quarters/events parts are orphans (not
        counted) until the new runs part is renamed into place, which happens only after the old
        runs parts are gone: a kill in between loses those runs (they run again on resume) but
        never shows a run twice."""
        new = f"{PART_PREFIX}{self.next_part:06d}{PART_SUFFIX}"
        self.next_part += 1
        for dataset in ("quarters", "events"):
            table = _read_parts([self.out / dataset / n for n in names
                                 if (self.out / dataset / n).exists()])
            if table is not None:
                _write_atomic(table, self.out / dataset / new)
        staged = self.out / "runs" / f".tmp-compact-{new}"
        pq.write_table(_read_parts([self.out / "runs" / n for n in names]), staged)
        for name in names:
            (self.out / "runs" / name).unlink()
        os.replace(staged, self.out / "runs" / new)
        for dataset in ("quarters", "events"):
            for name in names:
                (self.out / dataset / name).unlink(missing_ok=True)

    def drop_failed(self) -> int:
        """Remove failed runs from the runs parts (they hold no quarters or events), so they
        run again; returns how many were removed."""
        removed = 0
        for path in _parts(self.out / "runs"):
            table = pq.read_table(path)
            failed = pc.equal(table["status"], "failed")
            count = int(pc.sum(failed).as_py() or 0)
            if not count:
                continue
            removed += count
            if count == table.num_rows:
                path.unlink()
            else:
                _write_atomic(table.filter(pc.invert(failed)), path)
        return removed

    def finished(self) -> pd.DataFrame:
        """``run_id`` and ``status`` of every run already written."""
        frames = [pq.read_table(p, columns=["run_id", "status"]).to_pandas()
                  for p in _parts(self.out / "runs")]
        if not frames:
            return pd.DataFrame({"run_id": pd.Series(dtype=str),
                                 "status": pd.Series(dtype=str)})
        return pd.concat(frames, ignore_index=True)

    # writing
    def add(self, result: RunResult) -> None:
        self.buffer.append(result)
        if (len(self.buffer) >= self.chunk_runs
                or time.monotonic() - self.last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        results = sorted(self.buffer, key=lambda r: r.row["run_index"])
        name = f"{PART_PREFIX}{self.next_part:06d}{PART_SUFFIX}"
        quarters = [r.quarters for r in results if len(r.quarters)]
        if quarters:
            table = pa.Table.from_pandas(pd.concat(quarters, ignore_index=True),
                                         preserve_index=False)
            _write_atomic(table, self.out / "quarters" / name)
        events = [r.events for r in results if len(r.events)]
        if events:
            frame = pd.concat(events, ignore_index=True)
            table = pa.Table.from_pandas(frame, schema=self.event_schema, preserve_index=False)
            _write_atomic(table, self.out / "events" / name)
        rows = [{k: _plain(v) for k, v in r.row.items()} for r in results]
        _write_atomic(pa.Table.from_pylist(rows, schema=self.run_schema),
                      self.out / "runs" / name)  # last: the chunk is now done
        self.next_part += 1
        self.buffer.clear()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._lock is not None:
                self._lock.close()
                self._lock = None


# --- reading a batch --------------------------------------------------------------------------
class BatchTables(NamedTuple):
    """The three tables of a batch folder (``runs, quarters, events = load_batch(out)``)."""

    runs: pd.DataFrame
    quarters: pd.DataFrame
    events: pd.DataFrame


def _read_parts(paths: list[Path], columns: list[str] | None = None) -> pa.Table | None:
    tables = [pq.read_table(p, columns=columns) for p in paths]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


def _quarter_category(series: pd.Series) -> pd.Series:
    labels = sorted(str(v) for v in series.dropna().unique())
    return pd.Categorical(series, categories=labels, ordered=True)


def load_batch(out: str | Path, quarter_columns: Sequence[str] | None = None) -> BatchTables:
    """Read a batch folder into pandas (see the module docstring for columns and dtypes).

    ``quarter_columns`` limits the quarters table to these model columns (plus ``run_id``,
    ``scenario``, ``seed``, ``step``, ``quarter``): a large batch then loads in little memory.
    Only finished chunks are read (parts whose runs part exists).
    """
    from bubble_abm.chains import EVENT_DEFINITIONS, VERDICTS

    out = Path(out)
    spec = read_manifest(out)["spec"]
    run_parts = _parts(out / "runs")
    done = {p.name for p in run_parts}
    scenarios = list(spec["scenarios"])

    table = _read_parts(run_parts)
    runs = table.to_pandas() if table is not None else pd.DataFrame(
        {name: pd.Series(dtype=object) for name in _ID_COLUMNS})
    runs = runs.sort_values("run_index", kind="stable").reset_index(drop=True)
    for name in ("run_index", "point", "seed"):
        runs[name] = runs[name].astype("int64")
    runs["scenario"] = pd.Categorical(runs["scenario"], categories=scenarios)
    if len(runs.columns) > len(_ID_COLUMNS):
        runs["status"] = pd.Categorical(runs["status"], categories=["ok", "failed"])
        for name in ("verdict", "verdict_at_first_drop"):
            runs[name] = pd.Categorical(runs[name], categories=list(VERDICTS))
        for name, kind in SUMMARY_COLUMNS.items():
            if kind == pa.bool_():
                runs[name] = runs[name].astype("boolean")
            elif kind == pa.int64():
                runs[name] = runs[name].astype("Int64")
        runs["quarters_run"] = runs["quarters_run"].astype("Int64")
    order = {run_id: i for i, run_id in enumerate(runs["run_id"])}

    def frame(name: str, columns: list[str] | None) -> pd.DataFrame:
        parts = [p for p in _parts(out / name) if p.name in done]
        data = _read_parts(parts, columns)
        if data is None:
            names = columns or list(_QUARTER_ID_COLUMNS)
            return pd.DataFrame({c: pd.Series(dtype=object) for c in names})
        result = data.to_pandas()
        key = result["run_id"].map(order)
        result = result.assign(_order=key).sort_values(["_order", "step"], kind="stable")
        result = result.drop(columns="_order").reset_index(drop=True)
        result["scenario"] = pd.Categorical(result["scenario"], categories=scenarios)
        result["seed"] = result["seed"].astype("int64")
        result["step"] = result["step"].astype("int64")
        return result

    columns = None
    if quarter_columns is not None:
        wanted = [*_QUARTER_ID_COLUMNS, "step", "quarter"]
        columns = wanted + [c for c in quarter_columns if c not in wanted]
    quarters = frame("quarters", columns)
    if "quarter" in quarters.columns and len(quarters):
        quarters["quarter"] = _quarter_category(quarters["quarter"])
    events = frame("events", list(EVENT_TABLE_COLUMNS))
    if len(events):
        events["event"] = pd.Categorical(events["event"], categories=list(EVENT_DEFINITIONS))
        events["direction"] = pd.Categorical(events["direction"], categories=["up", "down"])
        labels = sorted(set(events["quarter"].dropna()) | set(events["end_quarter"].dropna()))
        for name in ("quarter", "end_quarter"):
            events[name] = pd.Categorical(events[name], categories=labels, ordered=True)
        for name in ("spell", "end_step"):
            events[name] = events[name].astype("int64")
    return BatchTables(runs, quarters, events)


def collapse_links(runs: pd.DataFrame) -> pd.DataFrame:
    """The collapse links of each run as a table, unpacked from ``chain_json``.

    One row per link that :func:`bubble_abm.chains.summarize_chain` counted near the run's
    capex peak: ``run_id``, ``scenario``, ``seed``, ``point``, ``event`` (category), ``stage``
    (position in :data:`bubble_abm.chains.COLLAPSE_ORDER`), ``quarter``, ``step``,
    ``quarters_from_peak`` and ``lag`` (quarters after the previous link; missing for the
    first), in the run's time order. Failed runs have none.
    """
    from bubble_abm.chains import EVENT_DEFINITIONS

    rows = []
    keys = ("run_id", "scenario", "seed", "point")
    with_chain = runs if "chain_json" in runs else runs.assign(chain_json=None)
    for record in with_chain.loc[with_chain["chain_json"].notna(),
                                 [*keys, "chain_json"]].itertuples(index=False):
        chain = json.loads(record.chain_json)
        lags = chain.get("lags") or {}
        for link in chain.get("collapse_links") or []:
            rows.append({**{k: getattr(record, k) for k in keys},
                         **{k: link.get(k) for k in ("event", "stage", "quarter", "step",
                                                     "quarters_from_peak")},
                         "lag": lags.get(link.get("event"))})
    columns = [*keys, "event", "stage", "quarter", "step", "quarters_from_peak", "lag"]
    links = pd.DataFrame(rows, columns=columns)
    if "scenario" in runs and isinstance(runs["scenario"].dtype, pd.CategoricalDtype):
        links["scenario"] = pd.Categorical(links["scenario"],
                                           categories=runs["scenario"].cat.categories)
    links["event"] = pd.Categorical(links["event"], categories=list(EVENT_DEFINITIONS))
    for name in ("seed", "point", "stage", "step", "quarters_from_peak"):
        links[name] = links[name].astype("int64")
    links["lag"] = links["lag"].astype("Int64")
    return links
