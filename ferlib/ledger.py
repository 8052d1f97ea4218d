"""The time ledger of a run: which notebooks finished, in how much wall and CPU time,
counting the attempts that a session's end killed."""

from __future__ import annotations

import time
from dataclasses import dataclass

from .files import read_json, write_json
from .runfolder import RunFolder


@dataclass(frozen=True)
class TimeLedger:
    """Reads and writes ``timings.json``, ``cpu.json`` and ``attempts.json`` of one run folder."""

    folder: RunFolder

    def finished_notebooks(self) -> dict[str, float]:
        """Notebooks that ran to the end, with their wall seconds."""
        timings = read_json(self.folder.timings, {})
        # A notebook still marked running was killed, perhaps while being executed again.
        running = (read_json(self.folder.attempts, {}).get("running") or {}).get("name")
        return {name: seconds for name, seconds in timings.items() if self.folder.notebook(name).exists() and name != running}

    def start_notebook(self, name: str) -> None:
        """Note that `name` starts now; an earlier start that never finished was killed, and
        its wall and CPU time (up to the last training progress it wrote) are kept."""
        attempts = read_json(self.folder.attempts, {})
        running = attempts.pop("running", None)
        if running:
            killed = running["name"]
            progress = read_json(self.folder.progress, {})
            heartbeat = max(progress.get("updated", 0), running["started"])
            attempts.setdefault("interrupted_seconds", {})
            attempts["interrupted_seconds"][killed] = (
                attempts["interrupted_seconds"].get(killed, 0.0) + heartbeat - running["started"])
            # Like the wall time, the CPU time counts up to the attempt's last progress report
            # (none: nothing counted); a report without it came from an older ferlib.
            if progress.get("updated", 0) >= running["started"]:
                if "cpu_seconds" in progress:
                    cpu = attempts.setdefault("interrupted_cpu_seconds", {})
                    cpu[killed] = cpu.get(killed, 0.0) + progress["cpu_seconds"]
                elif killed not in attempts.setdefault("unmeasured_cpu", []):
                    attempts["unmeasured_cpu"].append(killed)
        attempts["running"] = {"name": name, "started": time.time()}
        write_json(self.folder.attempts, attempts)

    def record_notebook(self, name: str, seconds: float, cpu_seconds: float | None = None) -> None:
        """`name` ran to the end in `seconds` of wall time (`cpu_seconds` of its kernel's CPU
        time); wall time lost in interrupted attempts is added.

        A notebook executed again in the same folder (``--reexecute``: its trainings reused)
        keeps the times of the pass that trained; the new pass's time goes to
        ``attempts.json`` (``reexecuted_seconds``), so the book reports what training cost.
        The CPU time of an interrupted attempt is the one its kernel's last progress report
        gives; where that report lacks it (an older ferlib), ``cpu.json`` says the count is
        incomplete (``complete``: false).
        """
        attempts = read_json(self.folder.attempts, {})
        earlier = attempts.get("interrupted_seconds", {}).pop(name, 0.0)
        earlier_cpu = attempts.get("interrupted_cpu_seconds", {}).pop(name, 0.0)
        unmeasured = name in attempts.get("unmeasured_cpu", [])
        if unmeasured:
            attempts["unmeasured_cpu"].remove(name)
        attempts.pop("running", None)
        timings = read_json(self.folder.timings, {})
        if name in timings:
            attempts.setdefault("reexecuted_seconds", {})[name] = round(seconds + earlier, 1)
        else:
            timings[name] = round(seconds + earlier, 1)
            if cpu_seconds is not None:
                cpu = read_json(self.folder.cpu_times, {})
                cpu[name] = {"seconds": round(cpu_seconds + earlier_cpu, 1), "complete": not unmeasured}
                write_json(self.folder.cpu_times, cpu)
        write_json(self.folder.attempts, attempts)
        write_json(self.folder.timings, timings)

    def mark_finished(self) -> None:
        """Stamp the run card with now as the time the run's latest notebook finished."""
        from datetime import datetime, timezone

        card = read_json(self.folder.card)
        if card is not None:
            write_json(self.folder.card, {**card, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")})
