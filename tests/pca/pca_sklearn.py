#!/usr/bin/python3
"""usage: pca_sklearn.py path/to/libnnla.so

Fits libnnla's PCA (called through ctypes) and scikit-learn's PCA (svd_solver='full') on the same
data and compares everything: n_components_, mean_, components_ (signs included: both follow
scikit-learn 1.2's u-based svd_flip), explained_variance_ and its ratio, singular_values_,
noise_variance_, transform (training and new data), inverse_transform, whitening. Data: random
Gaussian data with unequal scales (tall and wide), data drawn with a known covariance
Q diag(lambda) Q^T (the components must also approach Q's columns), and low-rank-plus-noise data for
the randomized solver (compared with the full one of both libraries, and with scikit-learn's
randomized solver). Exits 77 (ctest: skipped) when scikit-learn is missing. Registered by
tests/pca.cmake.
"""
import ctypes
import sys

try:
    import numpy as np
    from sklearn.decomposition import PCA
except ImportError as e:  # pragma: no cover
    print("SKIP: %s" % e)
    sys.exit(77)

FAILURES = []
D = ctypes.POINTER(ctypes.c_double)


class CMat(ctypes.Structure):
    _fields_ = [("rows", ctypes.c_size_t), ("cols", ctypes.c_size_t), ("ld", ctypes.c_size_t),
                ("data", ctypes.c_void_p)]


class Opts(ctypes.Structure):
    _fields_ = [("n_components", ctypes.c_size_t), ("variance", ctypes.c_double), ("whiten", ctypes.c_int),
                ("solver", ctypes.c_int), ("oversample", ctypes.c_size_t), ("power_iters", ctypes.c_size_t),
                ("seed", ctypes.c_uint64)]


class Pca(ctypes.Structure):
    _fields_ = [("n_features", ctypes.c_size_t), ("capacity", ctypes.c_size_t), ("n_components", ctypes.c_size_t),
                ("n_samples", ctypes.c_size_t), ("whiten", ctypes.c_int), ("total_variance", ctypes.c_double),
                ("noise_variance", ctypes.c_double), ("mean", D), ("components", D), ("explained_variance", D),
                ("explained_variance_ratio", D), ("singular_values", D), ("owned", ctypes.c_void_p)]


def view(a):
    assert a.dtype == np.float64 and a.flags.c_contiguous
    return CMat(a.shape[0], a.shape[1], a.shape[1], a.ctypes.data)


def fail(msg):
    FAILURES.append(msg)
    print("FAIL:", msg)


def close(got, want, rtol, atol, what):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        fail("%s: shape %s, want %s" % (what, got.shape, want.shape))
        return
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        err = np.max(np.abs(got - want))
        fail("%s: max abs error %.3g (rtol %g, atol %g)" % (what, err, rtol, atol))


class Lib:
    def __init__(self, path):
        self.lib = lib = ctypes.CDLL(path)
        lib.nnla_pca_alloc.argtypes = [ctypes.POINTER(Pca), ctypes.c_size_t, ctypes.c_size_t]
        lib.nnla_pca_free.argtypes = [ctypes.POINTER(Pca)]
        lib.nnla_pca_fit_alloc.argtypes = [ctypes.POINTER(Pca), CMat, ctypes.POINTER(Opts)]
        lib.nnla_pca_transform_alloc.argtypes = [ctypes.POINTER(Pca), CMat, CMat]
        lib.nnla_pca_inverse_transform_alloc.argtypes = [ctypes.POINTER(Pca), CMat, CMat]
        lib.nnla_status_name.restype = ctypes.c_char_p

    def check(self, st, what):
        if st != 0:
            raise RuntimeError("%s: %s" % (what, self.lib.nnla_status_name(st).decode()))

    def fit(self, x, k=0, variance=0.0, whiten=False, randomized=False, p=10, q=4, seed=1):
        n, d = x.shape
        model = Pca()
        self.check(self.lib.nnla_pca_alloc(ctypes.byref(model), d, min(n, d)), "alloc")
        o = Opts(k, variance, int(whiten), int(randomized), p, q, seed)
        self.check(self.lib.nnla_pca_fit_alloc(ctypes.byref(model), view(x), ctypes.byref(o)), "fit")
        return model

    def transform(self, model, x):
        y = np.empty((x.shape[0], model.n_components))
        self.check(self.lib.nnla_pca_transform_alloc(ctypes.byref(model), view(x), view(y)), "transform")
        return y

    def inverse(self, model, y):
        x = np.empty((y.shape[0], model.n_features))
        self.check(self.lib.nnla_pca_inverse_transform_alloc(ctypes.byref(model), view(np.ascontiguousarray(y)),
                                                             view(x)), "inverse")
        return x

    def free(self, model):
        self.lib.nnla_pca_free(ctypes.byref(model))


def arrays(m):
    k, d = m.n_components, m.n_features
    comp = np.ctypeslib.as_array(m.components, shape=(k * d,)).reshape(k, d).copy()
    vec = lambda p, n: np.ctypeslib.as_array(p, shape=(n,)).copy()
    return dict(components=comp, mean=vec(m.mean, d), ev=vec(m.explained_variance, k),
                evr=vec(m.explained_variance_ratio, k), sv=vec(m.singular_values, k))


def compare(lib, name, x, xnew, n_components, whiten, rtol=1e-9):
    """Fit both on x; compare the models and the transforms of x and xnew."""
    n, d = x.shape
    k = n_components if isinstance(n_components, int) else 0
    frac = n_components if isinstance(n_components, float) else 0.0
    sk = PCA(n_components=n_components, svd_solver="full", whiten=whiten).fit(x)
    m = lib.fit(x, k=k, variance=frac, whiten=whiten)
    what = "%s (n_components=%s, whiten=%s)" % (name, n_components, whiten)
    if m.n_components != sk.n_components_:
        fail("%s: %d components, scikit-learn %d" % (what, m.n_components, sk.n_components_))
        lib.free(m)
        return
    a = arrays(m)
    scale = np.abs(x - x.mean(0)).max()
    ev0 = sk.explained_variance_[0]
    close(a["mean"], sk.mean_, rtol, 1e-13 * np.abs(x).max(), what + " mean_")
    # components: unit vectors; a component is determined to ~eps * s1 / gap. A component of
    # singular value ~0 (n <= d: the centred data has rank n - 1) is any unit vector orthogonal to
    # the others: it is compared only through what does not depend on it.
    rank = int(np.sum(sk.singular_values_ > 1e-10 * sk.singular_values_[0]))
    close(a["components"][:rank], sk.components_[:rank], 0, 1e-9, what + " components_ (signs included)")
    close(a["ev"], sk.explained_variance_, rtol, 1e-12 * ev0, what + " explained_variance_")
    close(a["evr"], sk.explained_variance_ratio_, rtol, 1e-12, what + " explained_variance_ratio_")
    close(a["sv"], sk.singular_values_, rtol, 1e-12 * sk.singular_values_[0], what + " singular_values_")
    close(m.noise_variance, sk.noise_variance_, 1e-8, 1e-12 * ev0, what + " noise_variance_")
    close(m.total_variance, np.var(x, axis=0, ddof=1).sum(), 1e-12, 0, what + " total variance (n - 1)")
    for label, data in (("training", x), ("new", xnew)):
        y = lib.transform(m, data)
        ys = sk.transform(data)
        tol = 1e-9 * (np.abs(ys[:, :rank]).max() + 1)
        close(y[:, :rank], ys[:, :rank], 0, tol, "%s transform(%s data)" % (what, label))
        if rank == m.n_components or label == "training":  # training scores on a null component are ~0
            close(lib.inverse(m, y), sk.inverse_transform(ys), 0, 1e-9 * (scale + np.abs(data).max()),
                  "%s inverse_transform(%s data)" % (what, label))
    if whiten:  # whitened training scores: unit variance, uncorrelated
        y = lib.transform(m, x)
        close(np.cov(y, rowvar=False, ddof=1).reshape(m.n_components, m.n_components), np.eye(m.n_components), 0,
              1e-8, what + " whitened covariance")
    lib.free(m)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    lib = Lib(sys.argv[1])
    rng = np.random.default_rng(20240612)

    # random data with unequal scales, tall and wide, with an offset
    for name, (n, d) in (("tall", (200, 30)), ("wide", (20, 50)), ("square", (40, 40))):
        x = rng.standard_normal((n, d)) * rng.uniform(0.1, 3.0, d) + rng.uniform(-5, 5, d)
        xnew = rng.standard_normal((7, d)) * 2 + 1
        r = min(n, d)
        for nc in (1, 5, r, 0.5, 0.8, 0.95):
            for whiten in (False, True):
                if whiten and nc == r and n <= d:
                    continue  # the last component has variance ~0: scikit-learn divides by ~0
                compare(lib, "random %s" % name, x, xnew, nc, whiten)

    # a known covariance: Sigma = Q diag(lambda) Q^T, n = 4000 samples of N(mu, Sigma)
    d, n = 12, 4000
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = 2.0 ** -np.arange(d) * 9.0
    x = rng.standard_normal((n, d)) @ (q * np.sqrt(lam)).T + np.arange(d)
    xnew = rng.standard_normal((9, d)) @ (q * np.sqrt(lam)).T
    for nc in (3, d, 0.9):
        for whiten in (False, True):
            compare(lib, "known covariance", x, xnew, nc, whiten)
    m = lib.fit(x, k=4)
    a = arrays(m)
    # the sample estimates approach the truth: |<c_i, q_i>| near 1, variances within 10%
    for i in range(4):
        cosine = abs(a["components"][i] @ q[:, i])
        if cosine < 0.98:
            fail("known covariance: component %d has |cos| %.4f with the true direction" % (i, cosine))
    close(a["ev"], lam[:4], 0.1, 0, "known covariance: explained variances against lambda")
    close(a["mean"], np.arange(d), 0, 0.1, "known covariance: mean")
    lib.free(m)

    # the randomized solver on low-rank-plus-noise data: the full models, to rounding of the gap
    for n, d in ((500, 60), (40, 300)):
        u, _ = np.linalg.qr(rng.standard_normal((n, 8)))
        v, _ = np.linalg.qr(rng.standard_normal((d, 8)))
        x = (u * (100.0 * 0.6 ** np.arange(8))) @ v.T + 1e-3 * rng.standard_normal((n, d)) + 3.0
        sk = PCA(n_components=5, svd_solver="full").fit(x)
        skr = PCA(n_components=5, svd_solver="randomized", random_state=0).fit(x)
        mr = lib.fit(x, k=5, randomized=True, p=10, q=4, seed=3)
        a = arrays(mr)
        what = "randomized %dx%d" % (n, d)
        close(a["components"], sk.components_, 0, 1e-7, what + " components_ vs scikit-learn full")
        close(a["ev"], sk.explained_variance_, 1e-9, 0, what + " explained_variance_ vs full")
        close(a["evr"], sk.explained_variance_ratio_, 1e-9, 0, what + " explained_variance_ratio_ vs full")
        close(mr.noise_variance, sk.noise_variance_, 1e-6, 0, what + " noise_variance_ vs full")
        close(a["components"], skr.components_, 0, 1e-7, what + " components_ vs scikit-learn randomized")
        close(lib.transform(mr, x), sk.transform(x), 0, 1e-6, what + " transform vs full")
        lib.free(mr)

    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("ok: libnnla's PCA agrees with scikit-learn %s" % __import__("sklearn").__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
