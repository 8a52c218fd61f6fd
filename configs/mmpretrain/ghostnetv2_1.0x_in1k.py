# GhostNetV2 1.0x on ImageNet-1k: the classifier whose backbone initialises every detection and
# segmentation config. The recipe is the official release's (timm training script), expressed with
# mmpretrain/mmengine components; mmpretrain's MobileNetV3-Large recipe is the closest base.
_base_ = ['mmpretrain::mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py',
          '../_base_/models/ghostnetv2.py', '../_base_/runtime/safety_hooks.py']

# Official head: 1x1 conv 960->1280 with bias on the pooled features (a linear layer), ReLU,
# dropout 0.2, linear 1000. StackedLinearClsHead is exactly that; the converter maps the weights.
model = dict(
    backbone=_base_.backbone,
    head=dict(
        in_channels=960,
        act_cfg=dict(type='ReLU'),
        loss=dict(_delete_=True, type='LabelSmoothLoss', label_smooth_val=0.1,
                  mode='original', loss_weight=1.0)))

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
# timm's `--interpolation random` picks bilinear or bicubic per image; mmpretrain has no random
# choice, so bicubic (the test-time interpolation) is used. RandAugment rand-m9-mstd0.5: mmpretrain
# only provides timm's "increasing" policy set, the nearest equivalent.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.2, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=bgr_mean, fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=128, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

# RMSprop in TF style (eps inside the square root, 1e-3) is emulated by torch's RMSprop with
# eps = sqrt(1e-3) = 0.0316, as mmpretrain's MobileNetV3 recipe does.
optim_wrapper = dict(
    optimizer=dict(type='RMSprop', lr=0.064, alpha=0.9, momentum=0.9, eps=0.0316,
                   weight_decay=1e-5))

# 1251 iterations per epoch at batch 1024 (1,281,167 images): 3 warm-up epochs from lr 1e-6, then
# x0.973 every 2.4 epochs (3003 iterations), which an epoch-based StepLR cannot express.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6 / 0.064, by_epoch=False, begin=0, end=3753),
    dict(type='StepLR', step_size=3003, gamma=0.973, by_epoch=False, begin=3753),
]
train_cfg = dict(by_epoch=True, max_epochs=450, val_interval=1)

# Atomic checkpoints; the other safety hooks come from ../_base_/runtime/safety_hooks.py.
default_hooks = dict(checkpoint=dict(type='AtomicCheckpointHook'))
# EMA before them; safety_hooks is what ghostnetv2_1.0x_shapes.py keeps without EMA.
safety_hooks = _base_.custom_hooks
custom_hooks = [dict(type='EMAHook', momentum=1e-4, priority='ABOVE_NORMAL'), *safety_hooks]

# 8 GPUs x 128 images.
auto_scale_lr = dict(base_batch_size=1024)
