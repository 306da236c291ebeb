"""The aimc backend: analog in-memory computing (PCM crossbar tiles + LDPUs + DPU).

``AimcBackend`` is the cost model (:mod:`hwsim.backends.aimc.backend`); chip descriptions are
JSON files (:mod:`hwsim.backends.aimc.chip`); accuracy under PCM noise and drift is
:mod:`hwsim.backends.aimc.noise` (needs aihwkit); the paper reproduction is
``python -m hwsim.backends.aimc.reproduce`` and the digits accuracy report
``python -m hwsim.backends.aimc.digits``.
"""

from hwsim.backends.aimc.backend import AimcBackend, TileMap, tile_map
from hwsim.backends.aimc.chip import bundled_chips, load_chip

__all__ = ["AimcBackend", "TileMap", "bundled_chips", "load_chip", "tile_map"]
