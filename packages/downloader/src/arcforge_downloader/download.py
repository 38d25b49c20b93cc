"""One download run: metadata, plan, checks, transfer, verification, layout, manifest and report."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

try:
    import fcntl

    _flock: Callable[[Any, int], None] | None = fcntl.flock
except ImportError:  # Windows: no advisory locks
    _flock = None

from arcforge_downloader import __version__
from arcforge_downloader.auth import Token, make_redactor
from arcforge_downloader.events import EventWriter
from arcforge_downloader.hub import RefusedError, RemoteFile, Snapshot, fetch_snapshot, make_api, probe_access
from arcforge_downloader.layout import destination, select_files
from arcforge_downloader.manifest import ManifestEntry, read_manifest, size_report, write_manifest
from arcforge_downloader.progress import Progress, human_size
from arcforge_downloader.transfer import EngineSettings, FileJob, Notice, TransferEngine, TransferError
from arcforge_downloader.verify import file_digests
from arcforge_downloader.xet import fetch_with_xet, xet_unusable_reason

PARTIAL_DIR = ".partial"
EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_INTERRUPTED = 0, 1, 3, 130
DISK_MARGIN = 16 << 20  # journals, manifest and the filesystem's own bookkeeping


@dataclass(frozen=True)
class Options:
    repo_id: str
    output_dir: Path
    revision: str = "main"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    endpoint: str = "https://huggingface.co"
    dry_run: bool = False
    state_dir: Path | None = None
    engine: EngineSettings = field(default_factory=EngineSettings)


@dataclass
class PlannedFile:
    remote: RemoteFile
    dest: str  # model/... or tokenizer/...
    state: str  # "done" (verified earlier), "present" (unverified file in place) or "fetch"
    resumed: int = 0

    @property
    def expected(self) -> str:
        return self.remote.sha256 or self.remote.blob_id


class Downloader:
    def __init__(self, options: Options, token: Token, out: TextIO, err: TextIO, interactive: bool) -> None:
        self.options = options
        self.token = token
        self.out = out
        self.redact = make_redactor(token.value)
        self.events = EventWriter("download", options.state_dir, redact=self.redact)
        self.progress = Progress(self.events, err, interactive)
        self.output_dir = options.output_dir
        self.partial_dir = options.output_dir / PARTIAL_DIR
        self._entries: dict[str, ManifestEntry] = {}
        self._failures: list[str] = []
        self._advice: list[str] = []
        self._refetched: set[str] = set()
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._planned: dict[str, PlannedFile] = {}
        self._engine: TransferEngine | None = None
        self._hash_stop = threading.Event()
        self._started = False

    # ---- output -----------------------------------------------------------------------------------

    def say(self, message: str) -> None:
        self.progress.say(self.redact(message))

    def emit_start(self, **data: object) -> None:
        """The run's first event, once: with the plan's figures, or with what is known on an early refusal."""
        if self._started:
            return
        self._started = True
        fields: dict[str, object] = {
            "repo_id": self.options.repo_id,
            "revision": self.options.revision,
            "commit": None,
            "files": 0,
            "bytes_total": 0,
            "bytes_to_fetch": 0,
            "tool_version": __version__,
        }
        fields.update(data)
        self.events.emit("start", **fields)

    def refuse(self, code: str, message: str, advice: str, **extra: object) -> int:
        self.emit_start()
        self.events.emit("error", message=message, code=code, advice=advice, **extra)
        self.say(f"arcforge-download: error: {message}\n{advice}")
        self.events.emit("end", status="failed", files=0, bytes_fetched=0, seconds=0.0)
        return EXIT_REFUSED

    # ---- the run ----------------------------------------------------------------------------------

    def run(self) -> int:
        started = time.monotonic()
        options = self.options
        try:
            snapshot = fetch_snapshot(
                make_api(options.endpoint, self.token), options.repo_id, options.revision, self.token
            )
            self._snapshot = snapshot
            selected = select_files(snapshot.files, options.include, options.exclude)
            if not selected:
                return self.refuse(
                    "not_found",
                    f"no file of {options.repo_id}@{snapshot.commit[:12]} matches the include/exclude patterns",
                    "Files in the repo: " + ", ".join(sorted(snapshot.files)[:20]),
                )
            # Gated repos list their files to anyone and refuse the bytes: ask before moving any.
            probe_access(snapshot, min(selected, key=lambda p: snapshot.files[p].size), self.token)
        except RefusedError as problem:
            return self.refuse(
                problem.code, problem.message, problem.advice, gated=problem.gated, http_status=problem.status
            )

        try:
            with self._exclusive():
                status = self._run_locked(snapshot, selected)
        except RefusedError as problem:
            return self.refuse(problem.code, problem.message, problem.advice)
        if isinstance(status, int):
            return status
        seconds = round(time.monotonic() - started, 2)
        return self._finish(snapshot, status, seconds)

    def _run_locked(self, snapshot: Snapshot, selected: list[str]) -> str | int:
        """Plan, check and transfer; an int is an exit code that ends the run early."""
        options = self.options
        plan = self._plan(snapshot, selected)
        to_fetch = sum(p.remote.size - p.resumed for p in plan if p.state == "fetch")
        self.emit_start(
            commit=snapshot.commit,
            files=len(plan),
            bytes_total=sum(p.remote.size for p in plan),
            bytes_to_fetch=to_fetch,
            output_dir=str(self.output_dir),
            workers=options.engine.workers,
            range_size=options.engine.range_size,
            dry_run=options.dry_run,
        )
        self.say(
            f"{snapshot.repo_id} @ {snapshot.revision} = commit {snapshot.commit}"
            f"  (token: {self.token.masked}, from {self.token.source})"
        )
        if not options.dry_run:
            for planned in plan:
                if planned.state == "present":
                    self._adopt(planned)
            to_fetch = sum(p.remote.size - p.resumed for p in plan if p.state == "fetch")
        shortage = self._disk_shortage(to_fetch)
        if options.dry_run:
            return self._dry_run(plan, to_fetch, shortage)
        if shortage:
            return self.refuse("disk_full", shortage, "Free some space or choose another --output-dir.")
        return self._transfer(snapshot, plan)

    def _finish(self, snapshot: Snapshot, status: str, seconds: float) -> int:
        files_ok = len(self._entries)
        if status == "ok":
            self._write_manifest(complete=True)
            # Leftovers of other revisions or selections go too: the folder is published as it is.
            shutil.rmtree(self.partial_dir, ignore_errors=True)
            self.out.write(size_report([(e.path, e.size) for e in self._entries.values()]) + "\n")
            self.out.write(
                f"done: {files_ok} files in {self.output_dir} (commit {snapshot.commit[:12]}), fetched "
                f"{human_size(self.progress.fetched)} in {seconds:.1f} s\n"
            )
        elif status == "interrupted":
            self.say(
                f"interrupted: {human_size(self.progress.fetched)} fetched in this run are kept; "
                "rerun the same command to resume."
            )
        else:
            advice = list(dict.fromkeys(self._advice))  # each piece of advice once, in order
            self.say(
                "arcforge-download: failed:\n  " + "\n  ".join(self._failures) + "\n" + "\n".join(advice)
            )
        self.events.emit(
            "end", status=status, files=files_ok, bytes_fetched=self.progress.fetched, seconds=seconds
        )
        self.events.close()
        return {"ok": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(status, EXIT_FAILED)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One writer per output dir: a second run would interleave into the same partial files."""
        if self.options.dry_run:
            yield
            return
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        if _flock is None:
            yield
            return
        with (self.partial_dir / "lock").open("w") as handle:
            try:
                _flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise RefusedError(
                    "network",
                    f"another arcforge-download is writing {self.output_dir}",
                    "Wait for it to finish (or stop it), then rerun.",
                ) from None
            try:
                yield
            finally:
                _flock(handle, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            (self.partial_dir / "lock").unlink()

    # ---- planning ---------------------------------------------------------------------------------

    def _job(self, planned: PlannedFile) -> FileJob:
        remote = planned.remote
        assert self._snapshot is not None
        return FileJob(
            name=planned.dest,
            url=self._snapshot.resolve_url(remote.path),
            size=remote.size,
            part_path=self.partial_dir / (planned.dest + ".part"),
            # Content, not commit: a partial of an unchanged file survives a revision bump.
            identity=f"{remote.path}:{planned.expected}:{remote.size}",
        )

    def _plan(self, snapshot: Snapshot, selected: list[str]) -> list[PlannedFile]:
        earlier = read_manifest(self.output_dir)
        plan: list[PlannedFile] = []
        for path in selected:
            remote = snapshot.files[path]
            planned = PlannedFile(remote, destination(path), "fetch")
            final = self.output_dir / planned.dest
            record = earlier.get(planned.dest)
            if final.is_file() and final.stat().st_size == remote.size:
                known = record is not None and record.size == remote.size
                if known and record is not None and planned.expected in (record.sha256, record.git_blob_id):
                    planned.state = "done"
                    self._entries[planned.dest] = record
                else:
                    planned.state = "present"
            if planned.state == "fetch":
                planned.resumed = TransferEngine.resume_state(self._job(planned))
            plan.append(planned)
            self._planned[planned.dest] = planned
            self.progress.track(
                planned.dest, remote.size, remote.size if planned.state == "done" else planned.resumed
            )
        return plan

    def _adopt(self, planned: PlannedFile) -> None:
        """A file already in place without a manifest record: keep it if its checksum matches."""
        self.progress.item(planned.dest, "verifying")
        entry = self._verified_entry(planned, self.output_dir / planned.dest)
        if entry is None:
            planned.state = "fetch"
            self.progress.reset_file(planned.dest)
            planned.resumed = TransferEngine.resume_state(self._job(planned))
        else:
            planned.state = "done"
            self._entries[planned.dest] = entry
            self.progress.item(planned.dest, "done", sha256=entry.sha256, bytes_done=entry.size)

    def _verified_entry(self, planned: PlannedFile, path: Path) -> ManifestEntry | None:
        sha256, blob = file_digests(path, self._hash_stop)
        remote = planned.remote
        if path.stat().st_size != remote.size:
            return None
        if remote.sha256 is not None:
            good = sha256 == remote.sha256
        else:
            # Small files: the git blob id, when the Hub gave one that is a sha1; else the size alone.
            good = blob == remote.blob_id if len(remote.blob_id) == 40 else True
        if not good:
            return None
        return ManifestEntry(planned.dest, remote.path, remote.size, sha256, blob, remote.sha256 is not None)

    def _disk_shortage(self, to_fetch: int) -> str | None:
        probe = self.output_dir.resolve()
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        if to_fetch + DISK_MARGIN <= free:
            return None
        return (
            f"not enough disk space: {human_size(to_fetch)} still to fetch ({to_fetch:,} bytes) but only "
            f"{human_size(free)} ({free:,} bytes) free on {probe}"
        )

    def _dry_run(self, plan: list[PlannedFile], to_fetch: int, shortage: str | None) -> int:
        rows = []
        for planned in plan:
            if planned.state == "done":
                note = "have (verified)"
            elif planned.state == "present":
                note = "in place, will verify"
            elif planned.resumed:
                note = f"resume, {human_size(planned.remote.size - planned.resumed)} left"
            else:
                note = "fetch"
            rows.append(f"{planned.dest:<50} {human_size(planned.remote.size):>10}  {note}")
        total = sum(p.remote.size for p in plan)
        self.out.write("\n".join(rows) + "\n")
        self.out.write(
            f"dry run: {len(plan)} files, {human_size(total)} in all, {human_size(to_fetch)} to fetch "
            f"({to_fetch:,} bytes) into {self.output_dir}\n"
        )
        if shortage:
            self.out.write(f"warning: {shortage}\n")
        self.events.emit("end", status="ok", files=0, bytes_fetched=0, seconds=0.0)
        return EXIT_OK

    # ---- transfer ---------------------------------------------------------------------------------

    def _write_manifest(self, complete: bool) -> None:
        snapshot = self._snapshot
        assert snapshot is not None
        write_manifest(
            self.output_dir,
            repo_id=snapshot.repo_id,
            revision=snapshot.revision,
            commit=snapshot.commit,
            endpoint=snapshot.endpoint,
            entries=list(self._entries.values()),
            complete=complete,
        )

    def _transfer(self, snapshot: Snapshot, plan: list[PlannedFile]) -> str:
        engine = TransferEngine(
            self.options.engine,
            on_bytes=self.progress.add_bytes,
            on_state=lambda name, state, done: self.progress.item(name, state, bytes_done=done),
            on_complete=self._on_complete,
            on_failed=self._on_failed,
            on_notice=self._on_notice,
        )
        self._engine = engine
        pending = sorted((p for p in plan if p.state == "fetch"), key=lambda p: (p.remote.size, p.dest))
        for planned in pending:
            self.progress.item(planned.dest, "queued", bytes_done=planned.resumed)
        self.progress.start()
        status = "ok"
        try:
            pending = self._fetch_xet_files(snapshot, pending)
            for planned in pending:
                try:
                    engine.add(self._job(planned))
                except OSError as exc:
                    code = "disk_full" if exc.errno == 28 else "network"
                    self._record_failure(
                        self._job(planned),
                        f"{planned.dest}: cannot create its partial file: {exc}",
                        code,
                        f"Check that {self.partial_dir} is writable and has space, then rerun.",
                    )
            engine.run()
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            self._hash_stop.set()
            engine.stop()
            engine.close()
            self.progress.finish()
        if status == "ok" and len(self._entries) < len(plan):
            status = "failed" if self._failures else "interrupted"
        if status != "ok" and self._entries:
            self._write_manifest(complete=False)
        return status

    def _on_complete(self, job: FileJob) -> None:
        """All bytes are on disk: verify, then move into place atomically, or refetch once."""
        planned = self._planned[job.name]
        self.progress.item(job.name, "verifying")
        try:
            entry = self._verified_entry(planned, job.part_path)
        except InterruptedError:
            return  # stopped while hashing: the complete partial file stays for the next run
        except OSError as exc:
            self._on_failed(job, TransferError(f"{job.name}: cannot read the downloaded file: {exc}"))
            return
        assert self._engine is not None
        if entry is None:
            with self._lock:
                first = job.name not in self._refetched
                self._refetched.add(job.name)
            kind = "sha256" if planned.remote.sha256 else "git blob id"
            if first:
                message = f"{job.name}: {kind} does not match the Hub's {planned.expected}; fetching it again"
                self.events.emit(
                    "error", message=message, code="checksum", file=job.name, advice="refetching once"
                )
                self.say(f"warning: {message}")
                self.progress.reset_file(job.name)
                self.progress.item(job.name, "fetching", bytes_done=0)
                self._engine.refetch(job)
                return
            job.part_path.unlink(missing_ok=True)
            job.journal_path.unlink(missing_ok=True)
            self._record_failure(
                job,
                f"{job.name}: {kind} still does not match after a refetch (expected {planned.expected}); "
                "the file was not kept",
                "checksum",
                "The Hub, a proxy or the disk corrupts data: rerun later or from another network; check the disk.",
            )
            return
        self._place(job.name, job.part_path, entry)
        job.journal_path.unlink(missing_ok=True)

    def _place(self, name: str, path: Path, entry: ManifestEntry) -> None:
        """A verified file: move it into place atomically, then record it in the manifest."""
        final = self.output_dir / name
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, final)
        with self._lock:
            self._entries[name] = entry
            # After every file, so that a killed run still records what is verified and in place.
            self._write_manifest(complete=False)
        self.progress.item(name, "done", sha256=entry.sha256, bytes_done=entry.size)

    def _fetch_xet_files(self, snapshot: Snapshot, pending: list[PlannedFile]) -> list[PlannedFile]:
        """Xet-backed files not begun on the HTTP path go through huggingface_hub's Xet path first, as
        `hf download` does; returns the files left for the journal engine (the rest, and Xet failures)."""
        candidates = [p for p in pending if p.remote.xet_hash and p.resumed == 0]
        if not candidates:
            return pending
        reason = xet_unusable_reason()
        if reason is not None:
            self.events.emit(
                "log",
                level="info",
                message=f"{len(candidates)} Xet-backed files go over the Hub's HTTP bridge ({reason}); "
                "huggingface_hub's Xet path (pip install hf_xet) is what `hf download` uses",
            )
            return pending
        left = [p for p in pending if p not in candidates]
        for index, planned in enumerate(candidates):
            outcome = self._fetch_one_with_xet(snapshot, planned)
            if outcome == "placed":
                continue
            left.append(planned)
            if outcome == "broken":  # the CAS is out of reach: the next file would wait just as long
                rest = candidates[index + 1 :]
                left.extend(rest)
                if rest:
                    plural = "s" if len(rest) > 1 else ""
                    self.say(f"warning: {len(rest)} more Xet-backed file{plural} will come over HTTP as well")
                break
        return sorted(left, key=lambda p: (p.remote.size, p.dest))

    def _fetch_one_with_xet(self, snapshot: Snapshot, planned: PlannedFile) -> str:
        """`placed` when the file arrived through hf_xet, matched its sha256 and is in place; `bad` when
        its bytes did not match; `broken` when the Xet path itself failed."""
        name = planned.dest
        self.progress.item(name, "fetching", bytes_done=0, via="xet")
        try:
            path = fetch_with_xet(snapshot, planned.remote.path, self.partial_dir / "xet", self.token.value)
        except Exception as exc:  # any Xet failure means: use the HTTP path instead
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            self._xet_fallback(name, f"the Xet path (hf_xet) failed: {type(exc).__name__}: {first_line}")
            return "broken"
        self.progress.add_bytes(name, planned.remote.size)
        self.progress.item(name, "verifying")
        entry = self._verified_entry(planned, path)
        if entry is None:
            path.unlink(missing_ok=True)
            self.progress.reset_file(name)
            self._xet_fallback(name, "the file from the Xet path does not match the Hub's checksum")
            return "bad"
        self._place(name, path, entry)
        return "placed"

    def _xet_fallback(self, name: str, why: str) -> None:
        message = f"{name}: {why}; fetching it over HTTP with the resumable engine"
        self.events.emit("log", level="warning", message=message, file=name)
        self.say(f"warning: {message}")
        self.progress.item(name, "queued", bytes_done=0)

    def _on_notice(self, notice: Notice) -> None:
        """Retries, rate-limit waits, reconnects and worker changes: a `log` event and a line."""
        level = "info" if notice.kind == "workers" else "warning"
        data: dict[str, object] = {"level": level, "message": notice.message}
        for key in ("file", "wait_s", "rate_limit", "workers"):
            value = getattr(notice, key)
            if value is not None:
                data[key] = round(value, 2) if isinstance(value, float) else value
        self.events.emit("log", **data)
        if notice.kind == "rate_limit" and notice.wait_s is not None:
            self.progress.wait(
                notice.wait_s,
                f"rate-limited by the Hub{f' ({notice.rate_limit})' if notice.rate_limit else ''}",
            )
        self.say(f"{level}: {notice.message}")

    def _on_failed(self, job: FileJob, error: TransferError) -> None:
        advice = {
            "disk_full": "Free some space and rerun: what was written is kept.",
            "unauthorized": "Set HF_TOKEN to a valid Read token and rerun.",
            "forbidden": "Request access on the model page and rerun.",
            "xet_only": "pip install hf_xet (huggingface_hub's Xet client) and rerun: arcforge-download then "
            "fetches Xet-backed files with it. Finished files and ranges are kept.",
            "rate_limited": "Wait for the Hub's rate limit to reset (or log in: limits are higher with a token) "
            "and rerun: finished ranges are kept.",
        }.get(error.code, "Rerun the same command: finished ranges are kept.")
        self._record_failure(job, str(error), error.code, advice)

    def _record_failure(self, job: FileJob, message: str, code: str, advice: str) -> None:
        with self._lock:
            self._failures.append(self.redact(message))
            self._advice.append(advice)
        self.events.emit("error", message=message, code=code, advice=advice, file=job.name)
        self.progress.item(job.name, "failed")
