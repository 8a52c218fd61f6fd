"""Deploy a detector, segmentor or classifier with mmdeploy into ONNX Runtime, OpenVINO, ncnn or
LiteRT, and compare the deployed model with PyTorch on an image (mmdeploy's tools/deploy.py for
this project's models and backends; docs/deployment.md, docs/mobile.md).

    python tools/deployment/deploy.py DEPLOY_CFG MODEL_CFG CHECKPOINT IMAGE --work-dir DIR
        [--precision fp32|fp16|bf16|int8] [options]

A GhostNetV2 backbone is exported in its inference structure (DIR/<name>_deploy.pth) in the
export profile of (backend, precision, static or dynamic DEPLOY_CFG). DIR receives the backend's
``end2end[_<precision>].*`` files, mmdeploy's ``deploy.json``/``pipeline.json``/``detail.json``,
and ``output_pytorch.jpg`` and ``output_<backend>.jpg``: both models' predictions on IMAGE (or
each ``--test-img``), also printed with their difference.
"""
import logging
import os
import os.path as osp

from mmengine.config import Config

from ghostv2_mm.utils import tool_parser


def main():
    parser = tool_parser(__doc__, 'override model config settings, e.g. data_root=DIR/')
    parser.add_argument('deploy_cfg', help='deploy config (configs/mmdeploy/)')
    parser.add_argument('model_cfg', help='model config')
    parser.add_argument('checkpoint', help='trained checkpoint of the model config')
    parser.add_argument('img', help='image used for the conversion and the comparison')
    parser.add_argument('--test-img', nargs='+', help='images to compare on (default: IMAGE)')
    parser.add_argument('--work-dir', default=os.getcwd(), help='where the files are written')
    parser.add_argument('--device', default='cpu', help='device of the conversion')
    parser.add_argument('--precision', choices=['fp32', 'fp16', 'bf16', 'int8'],
                        help='backend precision (default: backend_config.precision or fp32): '
                        'bf16 for OpenVINO, fp16 for ncnn and LiteRT, int8 by post-training '
                        'quantisation (docs/quantization.md)')
    parser.add_argument('--calib-dataset-cfg',
                        help='config whose train_dataloader calibrates int8 (default: MODEL_CFG)')
    parser.add_argument('--calib-num', type=int, default=100,
                        help='number of calibration images for int8')
    parser.add_argument('--show', action='store_true', help='show the drawn predictions')
    parser.add_argument('--log-level', default='INFO', choices=list(logging._nameToLevel),
                        help='log level')
    args = parser.parse_args()
    from mmdeploy.utils import get_backend, get_root_logger

    from ghostv2_mm.deploy import compare, convert
    from ghostv2_mm.deploy.backends import check_files
    from ghostv2_mm.deploy.infer import read_image

    check_files([('DEPLOY_CFG', args.deploy_cfg), ('MODEL_CFG', args.model_cfg),
                 ('CHECKPOINT', args.checkpoint)])
    for img in [args.img, *(args.test_img or [])]:
        read_image(img, 'IMAGE' if img == args.img else '--test-img')
    if args.calib_dataset_cfg:
        check_files([('--calib-dataset-cfg', args.calib_dataset_cfg)])
    get_root_logger().setLevel(args.log_level)

    model_cfg = Config.fromfile(args.model_cfg)
    model_cfg.merge_from_dict(args.cfg_options or {})
    task_processor, files, precision = convert.deploy(
        args.deploy_cfg, model_cfg, args.checkpoint, args.img, args.work_dir, args.device,
        args.precision, args.calib_dataset_cfg, args.calib_num)
    backend = get_backend(task_processor.deploy_cfg).value

    backend_model = task_processor.build_backend_model(
        [files[0]], data_preprocessor_updater=task_processor.update_data_preprocessor)
    pytorch_model = task_processor.build_pytorch_model(args.checkpoint)
    classes = convert.dataset_meta(task_processor.model_cfg).get('classes')
    images = args.test_img or [args.img]
    for i, img in enumerate(images):
        suffix = f'_{i}' if len(images) > 1 else ''
        reference = convert.predict(task_processor, pytorch_model, img)
        result = convert.predict(task_processor, backend_model, img)
        print(f'{img}\n[pytorch] {compare.describe(reference, classes)}\n'
              f'[{backend} {precision}] {compare.describe(result, classes)}\n'
              f'[difference] {compare.format_difference(compare.difference(reference, result))}')
        for name, prediction in (('pytorch', reference), (backend, result)):
            out = osp.join(args.work_dir, f'output_{name}{suffix}.jpg')
            convert.draw(task_processor, img, prediction, out, show=args.show)
            print(f'drew {out}')


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
