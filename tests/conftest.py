import pytest

from tests.stacks import settled_stack


@pytest.fixture(scope="module")
def prod():
    return settled_stack("prod")


@pytest.fixture(scope="module")
def staging():
    return settled_stack("staging")
