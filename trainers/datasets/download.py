"""Fetching raw data sets (only with ``--download``): torchvision's own downloaders where
torchvision knows the set, the original URLs for the fairness CSVs.

Each fetcher writes into the data directory in the first layout of its ``RawSet``
(trainers/datasets/sources.py) and may raise anything: ``locate`` turns every failure
into one ``DataError`` line. The conversions from the original UCI files to the CSV
layouts the papers read are plain functions, so they are tested offline.
"""
from __future__ import annotations

import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable


from trainers.errors import DataError

if TYPE_CHECKING:  # pandas is imported where a table is read (0.35 s saved per CLI start)
    import pandas as pd

TIMEOUT_S = 60
UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"
ADULT_URLS = (f"{UCI}/adult/adult.data", f"{UCI}/adult/adult.test")
CREDIT_URL = f"{UCI}/00350/default%20of%20credit%20card%20clients.xls"
COMPAS_URL = ("https://raw.githubusercontent.com/propublica/compas-analysis/master/"
              "compas-scores-two-years.csv")

#: the column names of the Kaggle "adult-income-dataset" CSV the COSMOS code reads
ADULT_COLUMNS = ("age", "workclass", "fnlwgt", "education", "educational-num",
                 "marital-status", "occupation", "relationship", "race", "gender",
                 "capital-gain", "capital-loss", "hours-per-week", "native-country", "income")


def torchvision_fetch(class_name: str, **kwargs: Any) -> Callable[[Path], None]:
    """A fetcher that lets ``torchvision.datasets.<class_name>`` download into the data dir."""

    def fetch(data_dir: Path) -> None:
        import torchvision.datasets

        getattr(torchvision.datasets, class_name)(root=str(data_dir), download=True, **kwargs)

    fetch.__doc__ = f"torchvision.datasets.{class_name}(download=True)"
    return fetch


def download_url(url: str, target: Path) -> Path:
    """``url`` to ``target`` through a temporary file, so a broken transfer leaves nothing."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, \
            tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as handle:
        shutil.copyfileobj(response, handle)
    Path(handle.name).replace(target)
    return target


def url_fetch(url: str, relative: str) -> Callable[[Path], None]:
    def fetch(data_dir: Path) -> None:
        download_url(url, data_dir / relative)

    fetch.__doc__ = f"download {url}"
    return fetch


def uci_adult_to_csv(data_path: Path, test_path: Path, out_path: Path) -> pd.DataFrame:
    """UCI's adult.data + adult.test (48,842 rows) in the Kaggle CSV layout: header row,
    no blanks after commas, and the test file's labels without their trailing dot."""
    import pandas as pd

    frames = [pd.read_csv(path, header=None, names=ADULT_COLUMNS, skipinitialspace=True,
                          skiprows=skip, na_filter=False, comment="|")
              for path, skip in ((data_path, 0), (test_path, 0))]
    frame = pd.concat(frames, ignore_index=True)
    frame = frame[frame["age"].astype(str).str.strip() != ""]
    frame["income"] = frame["income"].str.rstrip(".")
    frame.to_csv(out_path, index=False)
    return frame


def fetch_adult(data_dir: Path) -> None:
    folder = data_dir / "adult"
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        train = download_url(ADULT_URLS[0], Path(tmp) / "adult.data")
        test = download_url(ADULT_URLS[1], Path(tmp) / "adult.test")
        uci_adult_to_csv(train, test, folder / "adult.csv")


def credit_frame_to_csv(frame: pd.DataFrame, out_path: Path) -> pd.DataFrame:
    """UCI's credit-card sheet in the Kaggle ``UCI_Credit_Card.csv`` layout."""
    frame = frame.rename(columns={"default payment next month": "default.payment.next.month"})
    frame.to_csv(out_path, index=False)
    return frame


def fetch_credit(data_dir: Path) -> None:
    import pandas as pd

    try:
        import xlrd  # noqa: F401  (pandas needs it for UCI's .xls sheet)
    except ImportError:
        raise DataError("default: converting UCI's .xls needs the xlrd package "
                        "(pip install xlrd), or put Kaggle's UCI_Credit_Card.csv into "
                        f"{data_dir / 'credit'}") from None
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        sheet = download_url(CREDIT_URL, Path(tmp) / "credit.xls")
        credit_frame_to_csv(pd.read_excel(sheet, header=1), data_dir / "credit" / "UCI_Credit_Card.csv")
