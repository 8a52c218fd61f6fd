"""The README's main job: prints the model summary (parameters and FLOPs per width)."""
import os.path as osp
import runpy

runpy.run_path(osp.join(osp.dirname(__file__), 'analysis', 'model_summary.py'), run_name='__main__')
