"""Stand-ins and drivers around the node: a camera + microphone publisher, a ROS4HRI face
publisher, the demo and the soak test. Not needed to run the node."""
