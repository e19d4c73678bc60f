"""`stagesweep demo`: a werf world in a temp dir, a dry run, then a real cleanup."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cli import prefect_env
from cli.run import run_command
from schemas.settings import CleanupSettings
from schemas.vocab import Command

console = Console()

WERF_YAML = """\
project: demo
configVersion: 1
---
image: backend
---
image: frontend
"""


def build_or_reuse(publisher: Any, last: dict[str, Any], name: str, when: Any, reuse: bool) -> Any:
    """The image CI has for `name` at this push: the last one when its inputs did not change,
    else a new build whose first stage is the last build's (the cache)."""
    prev = last.get(name)
    if not (reuse and prev is not None):
        prev = last[name] = publisher.build(name, built_at=when, n_stages=3, base=prev, reuse=1 if prev else 0)
    return prev


def build_world(root: Path) -> dict:
    """Git history over six weeks and the images CI would have published for it."""
    from adapters.demo_world import GitWorld, utc_now, weeks_ago
    from adapters.storage import open_images_repo, open_stages_storage
    from adapters.storage.oci import OciBackend
    from adapters.storage.publisher import Publisher
    from adapters.storage.werf2_publisher import Werf2Publisher

    now = utc_now()
    git = GitWorld(root / "git")
    stages = open_stages_storage(f"oci:{root / 'stages'}", "demo")
    images = open_images_repo(f"oci:{root / 'images'}", "demo", "multirepo")
    (git.work / "werf.yaml").write_text(WERF_YAML)

    # the same CI as werf 2.x runs it: stages, meta records and custom tags in one repository
    werf2 = Werf2Publisher(OciBackend(), f"oci:{root / 'repo'}", "demo")
    with Publisher(stages, images) as pub, werf2:
        pub.manage("backend")
        pub.manage("frontend")
        last: dict[str, object] = {}
        last2: dict[str, object] = {}

        def ci(branch: str, commit: str, when, *, frontend_changed: bool = True, tags: tuple[str, ...] = ()) -> None:
            """What CI does for a push: build both images (reusing the cache) and publish
            the commit tag, the branch tag and any git tags."""
            for name in ("backend", "frontend"):
                reuse = name == "frontend" and not frontend_changed
                built = build_or_reuse(pub, last, name, when, reuse)
                pub.publish(built, commit, commit, tag_strategy="git-commit")
                pub.publish(built, branch, commit, tag_strategy="git-branch")
                for tag in tags:
                    pub.publish(built, tag, commit, tag_strategy="git-tag")
                built2 = build_or_reuse(werf2, last2, name, when, reuse)
                werf2.publish(built2, commit)
                for tag in tags:
                    werf2.custom_tag(built2, f"{name}-{tag}")

        main = []
        for i, weeks in enumerate([6, 5, 4, 3]):
            when = weeks_ago(now, weeks=weeks)
            main.append(git.commit("main", when, f"main work {i}"))
            ci("main", main[-1], when, frontend_changed=i % 2 == 0)
        git.tag("v1.0", main[1], weeks_ago(now, weeks=5))
        ci("main", main[1], weeks_ago(now, weeks=5), tags=("v1.0",))

        git.branch_from("feature-old", main[0])
        for d in (40, 38):
            c = git.commit("feature-old", weeks_ago(now, days=d), f"old experiment {d}")
            ci("feature-old", c, weeks_ago(now, days=d))

        git.branch_from("hotfix", main[-1])
        fix = git.commit("hotfix", weeks_ago(now, days=19), "hotfix")
        ci("hotfix", fix, weeks_ago(now, days=19))
        merged = git.merge("main", "hotfix", weeks_ago(now, days=18))
        main.append(merged)
        ci("main", merged, weeks_ago(now, days=18))
        git.tag("v1.1", merged, weeks_ago(now, days=18))
        ci("main", merged, weeks_ago(now, days=18), tags=("v1.1",))

        git.branch_from("feature-login", merged)
        for d in (6, 4, 2):
            c = git.commit("feature-login", weeks_ago(now, days=d), f"login {d}")
            ci("feature-login", c, weeks_ago(now, days=d), frontend_changed=True)
        for d in (10, 5, 1):
            main.append(git.commit("main", weeks_ago(now, days=d), f"main work {d}d"))
            ci("main", main[-1], weeks_ago(now, days=d), frontend_changed=d != 5)

        # a tag pushed by hand, with no metadata record; a broken build; an interrupted one
        orphan = pub.build("backend", built_at=weeks_ago(now, days=12), n_stages=2)
        pub.publish(orphan, "experimental", None, tag_strategy="custom")
        broken = pub.build("backend", built_at=weeks_ago(now, days=9), n_stages=2)
        pub.reject(broken.stages[-1])
        pub.build("frontend", built_at=weeks_ago(now, days=20), n_stages=2)
        pub.build("backend", built_at=weeks_ago(now, hours=0.5), n_stages=2)
        pub.foreign("backend", "hand-pushed-debug")
        broken2 = werf2.build("backend", built_at=weeks_ago(now, days=9), n_stages=2)
        werf2.reject(broken2.stages[-1])
        werf2.build("backend", built_at=weeks_ago(now, hours=0.5), n_stages=2)

    git.push_all()
    git.delete_origin_branch("feature-old")
    git.delete_origin_branch("hotfix")
    return {
        "dir": str(git.work),
        "stages": f"oci:{root / 'stages'}",
        "images": f"oci:{root / 'images'}",
        "repo": f"oci:{root / 'repo'}",
        "audit": str(root / "audit"),
    }


def run_demo() -> int:
    started = time.monotonic()
    # the demo runs on Prefect's ephemeral API: it leaves no server behind
    os.environ.setdefault(prefect_env.AUTOSTART_ENV, "false")
    api = prefect_env.configure()
    root = Path(tempfile.mkdtemp(prefix="stagesweep-demo-"))
    console.print(f"[bold]stagesweep demo[/bold] in {root}")
    with console.status("building a git repo with an origin and publishing images into OCI layouts"):
        world = build_world(root)
    console.print(
        "  git: branches main, feature-login (origin), feature-old and hotfix deleted from origin; tags v1.0, v1.1\n"
        f"  werf v1.1 images repo: {world['images']}\n  werf v1.1 stages storage: {world['stages']}\n"
        f"  werf 2.x repository: {world['repo']}\n"
        f"  Prefect API: {'ephemeral (set PREFECT_API_URL or start `prefect server start` to keep runs)' if api == 'ephemeral' else api}"
    )
    base = dict(
        images_repo=world["images"],
        stages_storage=world["stages"],
        dir=world["dir"],
        audit_dir=world["audit"],
        without_kube=True,
    )
    console.rule("dry run")
    code = run_command(Command.CLEANUP, CleanupSettings(**base, dry_run=True))
    if code:
        return code
    console.rule("cleanup")
    code = run_command(Command.CLEANUP, CleanupSettings(**base))
    if code:
        return code
    _explain(world["audit"], "werf v1.1: what the cleanup kept and deleted, and why")
    console.rule(f"werf 2.x: cleanup --repo {world['repo']}")
    werf2 = dict(repo=world["repo"], dir=world["dir"], audit_dir=world["audit"], without_kube=True)
    code = run_command(Command.CLEANUP, CleanupSettings(**werf2))
    _explain(world["audit"], "werf 2.x: what the cleanup kept and deleted, and why", repo=True)
    console.print(f"\nAudit dataset: {world['audit']}  (try: stagesweep report {world['audit']})")
    console.print(f"Done in {time.monotonic() - started:.1f} s.")
    return code


def _explain(audit_dir: str, title: str, *, repo: bool = False) -> None:
    import pandas as pd

    from adapters.audit import read_audit

    df = read_audit(audit_dir).to_pandas()
    real = df[~df["dry_run"] & (df["storage"] == "repo" if repo else df["storage"] != "repo")]
    table = Table(title=title, show_lines=False)
    for col in ("item", "decision", "n", "example (detail)"):
        table.add_column(col, overflow="fold")
    for (item, action, reason), group in real.groupby(["item_type", "action", "reason"]):
        first = group.iloc[0]
        example = first["tag"] if len(first["tag"]) <= 24 else first["tag"][:21] + "..."
        if not pd.isna(first["detail"]) and first["detail"]:
            detail = first["detail"] if len(first["detail"]) <= 70 else first["detail"][:67] + "..."
            example += f" ({detail})"
        table.add_row(item, f"{action}: {reason}", str(len(group)), example)
    Console(width=max(console.width, 110)).print(table)
