"""Video clips: decode (bounded memory) → shots (PySceneDetect) → cut (stream copy / re-encode) → keyframes → motion.

Modules, in the order one video goes through them:
    decode     the one PyAV decoder (also scoring's: frames sampled by time), bounded memory, rotation and
               variable frame rate handled, stable VideoError reasons
    config     the stage's settings (pydantic only, so the CLI builds its options without media libraries)
    shots      content / adaptive / cascade shot detectors fed frame by frame
    motion     Farnebäck / RAFT optical flow and frame difference on frame pairs sampled at 2 fps
    cut        clip planning (split, keyframe alignment, drop reasons) and cutting
    keyframes  first / middle / last frame JPEGs of a clip
    process    one video → clip rows, motion rows and files (`VideoProcessor`, `ClipsConfig`)
The batch job over a workspace is `curation.clips`, the Beam pipeline `pipelines.clips`.
"""
