"""A failed image build leaves nothing behind: no temporary image, no root file system, and the
image already in use keeps its tag and its recipe label."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hisops.lab import image, podman
from hisops.lab.errors import LabError
from hisops.lab.settings import LabSettings

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("podman") is None
                    or shutil.which("debootstrap") is None,
                    reason="building the image needs root, podman and debootstrap")
def test_failed_build_leaves_no_half_made_image(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    shutil.copytree(ROOT / "scripts" / "lab-image", recipe)
    with open(recipe / "packages.txt", "a") as fh:
        fh.write("base: hisops-no-such-package\n")  # debootstrap fails on it
    cache = tmp_path / "cache"
    settings = LabSettings.from_env({**os.environ, "HISOPS_LAB_RECIPE_DIR": str(recipe),
                                     "HISOPS_LAB_CACHE": str(cache)})
    before = podman.image_labels(settings.image)
    images_before = podman.run(["images", "-a", "--format", "{{.Repository}}:{{.Tag}}"]).stdout

    with pytest.raises(LabError, match="image build failed") as info:
        image.ensure_image(settings)

    assert info.value.log_path is not None
    assert "hisops-no-such-package" in Path(info.value.log_path).read_text()
    assert not list(cache.glob("build-*"))  # the root file system is gone
    images_after = podman.run(["images", "-a", "--format", "{{.Repository}}:{{.Tag}}"]).stdout
    assert ":build-" not in images_after
    assert sorted(images_after.split()) == sorted(images_before.split())
    assert podman.image_labels(settings.image) == before  # the image in use is untouched
