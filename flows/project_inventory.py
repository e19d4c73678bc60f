"""What every policy and purge run reads first, in one place: the werf.yaml, the stages storage,
the images repo's werf tags of the names in play, and the format check before any decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coordination.deletion_run import DeletionRun
from schemas.config import WerfConfig
from schemas.settings import CommonSettings
from tasks.decide import check_storage_format
from tasks.extract import StagesInventory, extract_images_repo, extract_stages_storage, read_werf_config


@dataclass
class ProjectInventory:
    werf: WerfConfig
    inventory: StagesInventory
    #: the images-repo werf tags of the names in play (None: the images repo was not read)
    tags: Any


def read_project(run: DeletionRun, settings: CommonSettings, *, stages: bool, images: bool) -> ProjectInventory:
    """1. the werf.yaml and the run's project; 2. the stages storage (stages only when `stages`);
    3. the images repo's werf tags of the werf.yaml's and the managed images (when `images`);
    then stop before deciding anything if werf 1.2 / 2.x content was read as v1.1's."""
    werf = read_werf_config(settings)
    run.project = settings.project or werf.project
    run.metadata["werf_yaml_env"] = list(werf.template_env)
    inventory = extract_stages_storage(settings, run.project, with_stages=stages)
    names = sorted(set(werf.images) | set(inventory.managed_names))
    tags, image_blobs, image_signs = extract_images_repo(settings, run.project, names) if images else (None, None, None)
    run.blobs = [inventory.blobs, image_blobs]  # what the audit's reclaimable bytes are computed from
    check_storage_format([inventory.newer_format, image_signs])
    return ProjectInventory(werf, inventory, tags)
