"""Paper A, "Through Neural Nets' Eyes" (id ``eyes``): sigmoid MLPs on MNIST.

Uniform noise is evolved by gradient descent on the input until the net labels
it as a target digit; 1000 such adversarial examples per digit are averaged
(PROTOCOL.md sections 3-6). ``paper.PAPER`` is what the pipeline runs:
``stages`` (models and searches -> ``summary.EyesSummary``), ``claims``
(A1-A5, numpy only) and ``items`` (the ``eyes_*`` figures and tables). This
file imports nothing, so the numpy-only modules load without TensorFlow.
"""
