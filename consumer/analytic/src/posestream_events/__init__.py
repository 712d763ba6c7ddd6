"""posestream-events: a first analytic on the keypoint topic, written with the posestream kit.

It reads ``pose.keypoints`` and publishes events to ``pose.events`` (JSON, key = camera id):
``person_entered``, ``person_left``, ``fall_detected`` and ``repetition_counted`` (squats).
:class:`~posestream_events.detect.EventDetector` is the pure logic; ``posestream-events`` the
Kafka process (:mod:`posestream_events.service`).
"""

from .detect import DetectorConfig, Event, EventDetector

__version__ = "0.1.0"
__all__ = ["DetectorConfig", "Event", "EventDetector"]
