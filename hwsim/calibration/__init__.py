"""Calibration of the backends against vendor reports and measurements.

* :mod:`hwsim.calibration.parsers` — Vivado/Vitis HLS csynth XML and text reports, Vivado
  ``report_utilization``, hls4ml report dictionaries, design tables -> :class:`SynthRecord`;
* :mod:`hwsim.calibration.manifest` — pairing reports with models and hls4ml configurations;
* :mod:`hwsim.calibration.models` — building the model of a report from a compact description;
* :mod:`hwsim.calibration.fit` — robust least squares on relative error, error statistics, splits;
* :mod:`hwsim.calibration.engine` — predict, fit, cross-validate (backend adapters: fpga, cpu...);
* :mod:`hwsim.calibration.profile` — the profile JSON format (atomic writes);
* :mod:`hwsim.calibration.cli` — ``hwsim calibrate`` and ``hwsim validate``;
* :mod:`hwsim.calibration.report` — refits the shipped profiles, writes reports/calibration/.

Nothing is imported here: ``import hwsim`` stays fast.
"""
