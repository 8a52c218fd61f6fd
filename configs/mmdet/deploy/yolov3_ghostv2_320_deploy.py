# The inference structure of ../yolov3_ghostv2_320.py (BN folded, DFC attention as plain
# convs), which loads the deploy checkpoints of tools/model_converters/reparameterize_model.py:
#   python tools/test.py configs/mmdet/deploy/yolov3_ghostv2_320_deploy.py DEPLOY_CKPT
_base_ = '../yolov3_ghostv2_320.py'

model = dict(backbone=dict(deploy=True, init_cfg=None))
