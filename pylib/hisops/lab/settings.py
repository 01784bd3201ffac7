"""Where the lab keeps its state, its cache and its recipe, and which ports it uses.

Everything comes from the environment with safe defaults, so tests and CI can run a second lab
beside a developer's (another HISOPS_LAB_DIR and HISOPS_LAB_PORT_BASE) without touching it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from hisops.errors import InputError

IMAGE = "localhost/hisops-lab:bookworm"
DEFAULT_NAME = "lab"
DEFAULT_PORT_BASE = 22200
# ssh, PostgreSQL and HTTP ports are base + 0/100/200 + host index: 100 hosts at most
PORT_STRIDE = 100
MAX_HOSTS = PORT_STRIDE - 1
PG_MAJOR = 15


def _project_root() -> Path | None:
    """The checkout this package runs from (editable install), if it is one."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "scripts" / "lab-image").is_dir() else None


@dataclass(frozen=True)
class LabSettings:
    """Paths and numbers of one lab. Build it with :meth:`from_env`."""

    state_dir: Path
    cache_dir: Path
    recipe_dir: Path
    project_root: Path | None
    port_base: int
    name: str = DEFAULT_NAME
    image: str = IMAGE

    @property
    def container_prefix(self) -> str:
        """Containers are named ``hisops-<lab name>-<host>``: two labs never share one."""
        return f"hisops-{self.name}-"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LabSettings:
        env = dict(os.environ if env is None else env)
        home = Path(env.get("HOME", str(Path.home())))
        root = _project_root()
        name = env.get("HISOPS_LAB_NAME") or DEFAULT_NAME
        if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", name):
            raise InputError(f"{name!r} is not a lab name (a-z then a-z0-9, 16 at most)",
                             field="HISOPS_LAB_NAME")
        state = Path(env.get("HISOPS_LAB_DIR") or home / ".hisops" / name)
        cache = Path(env.get("HISOPS_LAB_CACHE") or home / ".cache" / "hisops" / "lab")
        recipe_env = env.get("HISOPS_LAB_RECIPE_DIR")
        if recipe_env:
            recipe = Path(recipe_env)
        elif root is not None:
            recipe = root / "scripts" / "lab-image"
        else:
            raise InputError(
                "cannot find the lab image recipe (scripts/lab-image); run from a hisops "
                "checkout or set HISOPS_LAB_RECIPE_DIR",
                field="HISOPS_LAB_RECIPE_DIR",
            )
        raw_base = env.get("HISOPS_LAB_PORT_BASE", str(DEFAULT_PORT_BASE))
        try:
            base = int(raw_base)
        except ValueError:
            raise InputError(f"not a number: {raw_base!r}", field="HISOPS_LAB_PORT_BASE") from None
        if not 1024 <= base <= 65535 - 3 * PORT_STRIDE:
            raise InputError(
                f"{base} is out of range (1024..{65535 - 3 * PORT_STRIDE})",
                field="HISOPS_LAB_PORT_BASE",
            )
        return cls(
            state_dir=state.expanduser().absolute(),
            cache_dir=cache.expanduser().absolute(),
            recipe_dir=recipe.expanduser().absolute(),
            project_root=root,
            port_base=base,
            name=name,
        )

    @property
    def patch_repo_root(self) -> Path:
        return self.cache_dir / "patch-repo"

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.json"

    @property
    def inventory_file(self) -> Path:
        """The canonical generated inventory, beside the keys it names."""
        return self.state_dir / "inventory" / "hosts.yml"

    @property
    def checkout_inventory_file(self) -> Path | None:
        """A copy in the checkout (inventories/lab/hosts.yml, git-ignored) for the default lab."""
        if self.project_root is None or self.name != DEFAULT_NAME:
            return None
        return self.project_root / "inventories" / "lab" / "hosts.yml"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / ".lock"

    @property
    def client_key(self) -> Path:
        return self.state_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    @property
    def pg_password_file(self) -> Path:
        return self.state_dir / "pg-password"

    def host_dir(self, host: str) -> Path:
        return self.state_dir / "hosts" / host
