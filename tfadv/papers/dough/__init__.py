"""Paper B, "Neural Networks Playing Dough" (id ``dough``): CNNs and FC nets on MNIST and Fashion-MNIST.

One fixed bank of start inputs is evolved toward every class on every model;
the perturbations are abstracted into class patterns (PROTOCOL.md sections
3-6). ``paper.PAPER`` is what the pipeline runs: ``plan`` (models, roles, stop
rules), ``stages`` (evolutions, transfer, classifier -> ``summary.DoughSummary``;
the only module needing TensorFlow), ``claims`` (B1-B6, numpy only) and
``items`` (the ``dough_*`` figures and tables). This file imports nothing, so
the numpy-only modules load without TensorFlow.
"""
