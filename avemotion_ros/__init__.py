"""avemotion_ros: the ROS 2 node around avemotion_core (message conversion, windowing, inference)."""
