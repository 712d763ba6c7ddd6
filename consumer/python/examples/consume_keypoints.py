# The shortest keypoint consumer: print each camera's person count and hip height.
import os

from posestream import LandmarkIndex, consume

brokers = os.environ.get("POSESTREAM_BROKERS", "127.0.0.1:9092")
for msg in consume(brokers, group_id="my-team-hips", from_beginning=True):
    for pose in msg.poses:
        hip_y = (pose[LandmarkIndex.LEFT_HIP].y + pose[LandmarkIndex.RIGHT_HIP].y) / 2
        print(msg.camera_id, msg.run, msg.seq, pose.track_id, f"hip_y={hip_y:.3f}", flush=True)
