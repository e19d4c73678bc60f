"""What a run did, as the CLI prints it and the run-summary artifact shows it."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    def markdown(self) -> str:
        lines = [
            f"# stagesweep {self.command}{' (dry run)' if self.dry_run else ''}",
            "",
            f"* run: `{self.run_id}`",
            f"* audit: `{self.audit_file}`",
        ]
        if self.error:
            lines.append(f"* stopped: {self.error}")
        lines += ["", "| action | reason | count |", "|---|---|---|"]
        for key, n in sorted(self.reasons.items()):
            action, reason = key.split(" ", 1)
            lines.append(f"| {action} | {reason} | {n} |")
        lines += ["", "| outcome | count |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(self.counts.items())]
        return "\n".join(lines)
