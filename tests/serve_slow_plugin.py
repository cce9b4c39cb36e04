"""A test plugin for `workbench serve` in a subprocess (named in WORKBENCH_PLUGINS): the toy
line fit, served with a predict that sleeps SLOW_PREDICT_S seconds, so that a request is
surely in flight when the test sends SIGTERM."""

from __future__ import annotations

import os
import time

from workbench.registry import register
from workbench.toy import LinearRegression

register("slow-linreg", entry_point="tests.serve_slow_plugin:SlowLinearRegression",
         config="workbench.toy_config:LinRegConfig", kind="generator",
         description="test: the toy line fit, served slowly")


class SlowLinearRegression(LinearRegression):
    def serving(self):  # noqa: ANN201
        serving = super().serving()
        predict = serving.predict

        def slow(points):  # noqa: ANN001, ANN202
            time.sleep(float(os.environ.get("SLOW_PREDICT_S", "1")))
            return predict(points)

        serving.predict = slow
        return serving
