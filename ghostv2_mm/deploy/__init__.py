"""Deployment: export to ONNX, the runtimes' backends, quantisation and PyTorch-free inference.

Nothing here is imported eagerly: ``ghostv2_mm.deploy.infer`` must run where PyTorch is absent.
"""
