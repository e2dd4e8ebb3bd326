"""The input-QoS rule of ``qos: auto`` and the shipped Fast DDS profile that the launch file applies.

The delivery these choices buy is measured over real DDS in ``test_ros_qos_delivery.py``; here the
rule and the profile's contents are pinned without starting processes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ros_support import ros_env  # noqa: F401
from test_ros_packaging import load_launch_module

NS = {"f": "http://www.eprosima.com"}


def test_the_profile_holds_two_720p_frames_and_keeps_udp_for_other_hosts():
    launch = load_launch_module()
    profile = Path(launch.fastdds_profile_file())
    root = ET.parse(profile).getroot()
    descriptors = root.iterfind(".//f:transport_descriptor", NS)
    kinds = {d.findtext("f:transport_id", namespaces=NS): d for d in descriptors}
    shm = [d for d in kinds.values() if d.findtext("f:type", namespaces=NS) == "SHM"]
    assert len(shm) == 1 and int(shm[0].findtext("f:segment_size", namespaces=NS)) >= 2 * 1280 * 720 * 3
    assert any(d.findtext("f:type", namespaces=NS) == "UDPv4" for d in kinds.values())
    participant = root.find(".//f:participant", NS)
    assert participant.get("is_default_profile") == "true"  # rmw_fastrtps uses the default profile
    used = [t.text for t in participant.iterfind(".//f:userTransports/f:transport_id", NS)]
    assert sorted(used) == sorted(kinds)


def test_the_launch_file_sets_the_profile_unless_the_user_chose_one():
    launch = load_launch_module()
    profile = launch.fastdds_profile_file()
    assert launch.fastdds_env(profile, {}) == {"FASTDDS_DEFAULT_PROFILES_FILE": profile}
    assert launch.fastdds_env(profile, {"FASTDDS_DEFAULT_PROFILES_FILE": "/mine.xml"}) == {}
    assert launch.fastdds_env("", {}) == {}


def test_auto_follows_the_publishers_reliability(ros_env):  # noqa: F811
    from rclpy.qos import ReliabilityPolicy as R

    from avemotion_core.stream.node_config import NodeConfig
    from avemotion_ros.qos_match import reliability_for

    assert NodeConfig().qos == "auto"
    assert reliability_for("auto", []) == R.RELIABLE
    assert reliability_for("auto", [R.RELIABLE, R.RELIABLE]) == R.RELIABLE
    assert reliability_for("auto", [R.RELIABLE, R.BEST_EFFORT]) == R.BEST_EFFORT  # else no match
    assert reliability_for("sensor_data", [R.RELIABLE]) == R.BEST_EFFORT
    assert reliability_for("reliable", [R.BEST_EFFORT]) == R.RELIABLE
