"""Running a reproduction's stages: the stage graph, and the executors that run it (serial, Ray)."""
