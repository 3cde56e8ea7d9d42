import io

import pytest
import torch

from irlas_darts.data import load_dataset
from irlas_darts.evaluation import EvalSettings, Trainer, augmentation, build_network
from irlas_darts.spaces import NB201Genotype, published_genotype

NB_ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
N_CLASSES = 4


@pytest.fixture(scope="module")
def dataset():
    return load_dataset("synthetic", n_train=192, n_test=96, num_classes=N_CLASSES, size=8, channels=1)


def make_network(kind: str, seed: int):
    torch.manual_seed(seed)
    genotype = NB201Genotype.from_arch_str(NB_ARCH) if kind == "nb201" else published_genotype("PDARTS")
    return build_network(genotype, in_channels=1, num_classes=N_CLASSES, C=4, layers=1 if kind == "nb201" else 3,
                         auxiliary=True, drop_path_prob=0.3)


def settings(epochs: int, **kw) -> EvalSettings:
    return EvalSettings(**{**dict(epochs=epochs, batch_size=32, lr=0.05, drop_path_prob=0.3), **kw})


def test_short_training_learns(dataset):
    trainer = Trainer(make_network("nb201", 0), dataset, settings(3), seed=0)
    rows = []
    while not trainer.done:
        rows.append(trainer.train_epoch())
    assert [r["epoch"] for r in rows] == [1, 2, 3] and trainer.history == rows
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert all(r["drop_path_prob"] == 0.0 for r in rows)  # NAS-Bench-201 networks have no drop path
    loss, acc = trainer.evaluate()
    assert (loss, acc) == (rows[-1]["test_loss"], rows[-1]["test_acc"])
    assert acc > 2.0 / N_CLASSES  # chance is 1 / N_CLASSES
    with pytest.raises(RuntimeError, match="epochs"):
        trainer.train_epoch()


def test_schedule_drop_path_ramp_and_aux_loss(dataset):
    trainer = Trainer(make_network("darts", 0), dataset, settings(4, eval_every=2), seed=0)
    rows = [trainer.train_epoch() for _ in range(4)]
    assert [r["drop_path_prob"] for r in rows] == pytest.approx([0.0, 0.075, 0.15, 0.225])
    assert rows[0]["lr"] == 0.05 and all(a["lr"] > b["lr"] for a, b in zip(rows, rows[1:]))
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine to lr_min = 0
    assert all("train_aux_loss" in r for r in rows)
    assert ["test_acc" in r for r in rows] == [False, True, False, True]


def test_augmentation_follows_the_dataset_and_cutout_setting(dataset):
    spec = augmentation(dataset, settings(1))
    assert (spec.crop_padding, spec.flip, spec.cutout) == (dataset.augment.crop_padding, dataset.augment.flip, 4)
    assert augmentation(dataset, settings(1, cutout=0)).cutout == 0
    assert augmentation(dataset, settings(1, augment=False)).is_identity


def run_without_time(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.parametrize("kind", ["nb201", "darts"])
def test_resume_after_one_epoch_matches_an_uninterrupted_run(dataset, kind):
    straight = Trainer(make_network(kind, 0), dataset, settings(2), seed=7)
    straight.train_epoch()
    straight.train_epoch()

    first = Trainer(make_network(kind, 0), dataset, settings(2), seed=7)
    first.train_epoch()
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    # A different initialisation and seed: everything that matters must come from the checkpoint.
    resumed = Trainer(make_network(kind, 1), dataset, settings(2), seed=99)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    assert resumed.epoch == 1 and not resumed.done
    resumed.train_epoch()

    assert resumed.done
    assert run_without_time(resumed.history) == run_without_time(straight.history)
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="drop_path_prob"):
        EvalSettings(drop_path_prob=1.0)
    with pytest.raises(ValueError, match="epochs"):
        EvalSettings(epochs=0)
