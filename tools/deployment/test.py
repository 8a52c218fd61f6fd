"""Evaluate deployed files (ONNX Runtime's .onnx, OpenVINO's .xml, ncnn's .param, LiteRT's .tflite)
on the test set of MODEL_CFG with its evaluator, and their latency (mmdeploy's tools/test.py, for
this project's models and backends; docs/deployment.md).

    python tools/deployment/test.py DEPLOY_CFG MODEL_CFG --model FILE [--speed-test] [options]

``--speed-test`` logs the backend call's latency with mmdeploy's ``TimeCounter``. A file runs at
the precision it was deployed for (an OpenVINO IR records it, an ncnn or LiteRT file's sidecar).
"""
import os
from contextlib import nullcontext


def main():
    from mmdeploy.utils.timer import TimeCounter

    from ghostv2_mm.deploy.backends import build_test_setup, evaluation_parser
    parser = evaluation_parser(__doc__, './work_dirs/deploy_test')
    parser.add_argument('--show', action='store_true', help='show the predictions')
    parser.add_argument('--show-dir', help='where drawn predictions are saved')
    parser.add_argument('--interval', type=int, default=1, help='draw every N-th image')
    parser.add_argument('--wait-time', type=float, default=2, help='--show display time (s)')
    parser.add_argument('--log2file', help='also write metrics and latency to this file')
    parser.add_argument('--speed-test', action='store_true', help='measure the latency')
    parser.add_argument('--warmup', type=int, default=10, help='images before timing')
    parser.add_argument('--log-interval', type=int, default=100,
                        help='images between latency logs')
    parser.add_argument('--batch-size', type=int, default=1, help='test batch size')
    args = parser.parse_args()
    task_processor, _, _, dataloader, model = build_test_setup(
        args.deploy_cfg, args.model_cfg, args.model, args.cfg_options, args.device,
        args.batch_size)
    os.makedirs(args.work_dir, exist_ok=True)
    runner = task_processor.build_test_runner(
        model, args.work_dir, log_file=args.log2file, show=args.show, show_dir=args.show_dir,
        wait_time=args.wait_time, interval=args.interval, dataloader=dataloader)
    timer = TimeCounter.activate(warmup=args.warmup, log_interval=args.log_interval,
                                 with_sync=args.device != 'cpu', file=args.log2file,
                                 batch_size=args.batch_size) if args.speed_test else nullcontext()
    with timer:
        runner.test()
    model.destroy()


if __name__ == '__main__':
    from ghostv2_mm.errors import exit_on_error
    exit_on_error(main)
