# The inference structure of ../ghostnetv2_1.3x_in1k.py (BN folded, DFC attention as plain
# convs), which loads the deploy checkpoints of tools/model_converters/reparameterize_model.py:
#   python tools/test.py configs/mmpretrain/deploy/ghostnetv2_1.3x_in1k_deploy.py DEPLOY_CKPT
_base_ = '../ghostnetv2_1.3x_in1k.py'

model = dict(backbone=dict(deploy=True, init_cfg=None))
