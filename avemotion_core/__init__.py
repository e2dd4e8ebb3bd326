"""avemotion_core: audiovisual emotion recognition (arXiv 2201.11095), pure Python, no ROS."""

from avemotion_core.labels import EMOTIONS

__all__ = ["EMOTIONS"]
