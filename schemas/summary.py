"""What a run did, as the CLI prints it and the run-summary artifact shows it."""

from __future__ import annotations

from dataclasses import dataclass, field

#: failures listed in the markdown; the audit has them all
SHOWN_FAILURES = 20


def human_bytes(n: int | None) -> str:
    """``1.5 MiB``-style size (``unknown`` for None)."""
    if n is None:
        return "unknown"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


@dataclass
class RunSummary:
    run_id: str
    command: str
    dry_run: bool
    audit_file: str
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    exit_code: int = 0
    error: str | None = None
    #: bytes the registry's garbage collection can free after this run (None: not computed)
    reclaimable_bytes: int | None = None
    #: "repository:tag: error" of each failed deletion
    failures: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        reclaim = human_bytes(self.reclaimable_bytes)
        if self.reclaimable_bytes is not None:
            reclaim += f" ({self.reclaimable_bytes} bytes)"
        lines = [
            f"# stagesweep {self.command}{' (dry run)' if self.dry_run else ''}",
            "",
            f"* run: `{self.run_id}`",
            f"* audit: `{self.audit_file}`",
            f"* {'would be reclaimable' if self.dry_run else 'reclaimable'}: {reclaim}"
            " — freed on disk only by the registry's garbage collection",
            f"* deleted: {self.counts.get('deleted', 0)}, would delete: {self.counts.get('would-delete', 0)},"
            f" kept: {self.counts.get('kept', 0)}, failed: {len(self.failures)}",
        ]
        if self.error:
            lines.append(f"* stopped: {self.error}")
        lines += ["", "| action | reason | count |", "|---|---|---|"]
        for key, n in sorted(self.reasons.items()):
            action, reason = key.split(" ", 1)
            lines.append(f"| {action} | {reason} | {n} |")
        lines += ["", "| outcome | count |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(self.counts.items())]
        if self.failures:
            lines += ["", f"## Failures ({len(self.failures)})", ""]
            lines += [f"* {f}" for f in self.failures[:SHOWN_FAILURES]]
            if len(self.failures) > SHOWN_FAILURES:
                lines.append(f"* … and {len(self.failures) - SHOWN_FAILURES} more in the audit")
        return "\n".join(lines)
