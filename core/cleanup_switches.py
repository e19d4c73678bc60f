"""What werf.yaml's newer cleanup keys (werf v1.2 and 2) change in a cleanup, decided once per run.

werf v1.1 has the keep policies and nothing else; werf v1.2 added (``pkg/config/raw_meta_cleanup.go``,
``pkg/cleaning/cleanup.go``):

* ``disableGitHistoryBasedPolicy``: the keep policies keep nothing; werf then also drops every
  image metadata record;
* ``keepImagesBuiltWithinLastNHours`` (default 2) and ``disableBuiltWithinLastNHoursPolicy``:
  what was built within the last N hours stays. werf 2 takes the command line's
  ``--keep-stages-built-within-last-n-hours`` over the file's value when it is given, and turns
  the window off, given or not, when the policy is disabled;
* werf 2's ``disable``: cleanup deletes no image and no stage.

werf v1.2 stores images as stages; stagesweep works on werf v1.1's storage, where the images repo
and the stages storage are apart. So the window always protects stages (stagesweep's grace
window) and protects images-repo tags only when the werf.yaml asks for werf v1.2's cleanup (it
sets ``keepImagesBuiltWithinLastNHours`` or disables the git history-based policy): a werf v1.1
file is cleaned exactly as werf v1.1 cleans it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

DEFAULT_WINDOW_HOURS = 2.0  #: werf's default for both the option and keepImagesBuiltWithinLastNHours


@dataclass(frozen=True)
class CleanupSwitches:
    """The policies one cleanup applies."""

    git_history: bool  #: the keep policies decide which image tags stay
    stages_window: timedelta  #: stages built within it stay (0: none)
    images_window: timedelta | None  #: images-repo tags built within it stay (None: no such policy)
    disabled: bool  #: werf 2's cleanup.disable: nothing is deleted

    def describe(self) -> str:
        """One line for the run's log."""
        parts = ["cleanup disabled by werf.yaml (cleanup.disable)"] if self.disabled else []
        if not self.git_history:
            parts.append("git history-based policy disabled")
        hours = self.stages_window.total_seconds() / 3600
        parts.append(f"stages built within the last {hours:g} h stay" if hours else "no grace window for stages")
        if self.images_window is not None:
            parts.append(f"image tags built within the last {self.images_window.total_seconds() / 3600:g} h stay")
        return "; ".join(parts)


def cleanup_switches(
    option_hours: float | None,
    *,
    keep_images_built_within_last_n_hours: int | None = None,
    disable_built_within_last_n_hours_policy: bool = False,
    disable_git_history_based_policy: bool = False,
    disable: bool = False,
) -> CleanupSwitches:
    """The switches of a run from the ``--keep-stages-built-within-last-n-hours`` option (None: not
    given) and werf.yaml's cleanup keys (None / False: not in the file)."""
    if disable_built_within_last_n_hours_policy:
        hours = 0.0
    elif option_hours is not None:
        hours = float(option_hours)
    elif keep_images_built_within_last_n_hours is not None:
        hours = float(keep_images_built_within_last_n_hours)
    else:
        hours = DEFAULT_WINDOW_HOURS
    window = timedelta(hours=hours)
    werf_1_2_cleanup = keep_images_built_within_last_n_hours is not None or disable_git_history_based_policy
    return CleanupSwitches(
        git_history=not disable_git_history_based_policy,
        stages_window=window,
        images_window=window if werf_1_2_cleanup and hours > 0 else None,
        disabled=disable,
    )
