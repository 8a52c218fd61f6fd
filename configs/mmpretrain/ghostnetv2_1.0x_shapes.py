# GhostNetV2 1.0x classifier on the generated shapes dataset (6 classes, 64x64, ImageNet folder
# layout: `python tools/misc/make_shapes.py cls`). Trains on a CPU in a few minutes; its
# checkpoint initialises the backbone of configs/mmdet/yolov3_ghostv2_320_shapes.py.
_base_ = './ghostnetv2_1.0x_in1k.py'

num_classes = 6
data_root = 'data/shapes_cls/'
# The base's normalisation (ImageNet mean/std, BGR -> RGB), as the detector and segmentor that
# start from this checkpoint normalise their inputs; mmengine's Runner puts it into the model.
data_preprocessor = dict(num_classes=num_classes)
model = dict(head=dict(num_classes=num_classes, topk=(1, )))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.7, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=64, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
# Workers restart every epoch (not persistent) so a resumed run repeats an uninterrupted one.
train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=False,
    dataset=dict(_delete_=True, type='CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# A short schedule for a CPU: AdamW with cosine decay instead of the 450-epoch RMSprop recipe.
optim_wrapper = dict(_delete_=True, optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=3, eta_min=1e-5),
]
# 3 epochs (171 iterations) reach 98% top-1; the main job's minutes go to the detector instead.
train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=3)
custom_hooks = _base_.safety_hooks  # no EMA
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=3, max_keep_ckpts=1))
randomness = dict(seed=0, deterministic=True)
