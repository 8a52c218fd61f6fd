import os.path as osp

from setuptools import find_packages, setup


def read_version():
    namespace = {}
    with open(osp.join(osp.dirname(__file__), 'ghostv2_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


DET = ['mmdet>=3.0.0,<4', 'pycocotools']
SEG = ['mmsegmentation>=1.0.0,<2', 'ftfy', 'regex']
CLS = ['mmpretrain>=1.0.0,<2']
DEPLOY = ['onnx', 'onnxruntime', 'mmdeploy', 'openvino', 'nncf']

setup(
    name='ghostv2_mm',
    version=read_version(),
    description='GhostNetV2 (DFC attention) backbone for OpenMMLab 2.x: mmdet, mmseg, mmpretrain',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['ghostv2_mm', 'ghostv2_mm.*']),
    python_requires='>=3.8',
    install_requires=['torch>=1.8', 'mmengine>=0.8.0,<1', 'mmcv>=2.0.0,<2.2.0'],
    extras_require={
        'det': DET,
        'seg': SEG,
        'cls': CLS,
        'deploy': DEPLOY,
        'all': DET + SEG + CLS + DEPLOY + ['openmim'],
        'tests': ['pytest', 'timm'],
    },
    license='Apache-2.0',
    zip_safe=False,
)
