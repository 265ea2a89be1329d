"""The measurements behind each Aamir et al. claim, one function per table or figure, so the notebooks
only call, show and judge (:mod:`cnnexplain.papers.aamir.claims` holds the rules).

Each function takes the study (:class:`cnnexplain.papers.aamir.study.Study`) and influence scores
(:class:`cnnexplain.methods.influence_functions.layerwise.InfluenceScores`, whose ``sign`` they keep) and
returns tables and the values a claim rule takes, named as the rule's arguments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from cnnexplain.methods.influence_functions.layerwise import InfluenceScores, class_averages
from cnnexplain.papers.aamir import study as aamir
from cnnexplain.papers.aamir.study import Study


def describe(study: Study) -> str:
    """One line: how many training and test images, layers, and whether the net was trained now."""
    n_per = int(((study.conditions == "original") & (study.y_test.numpy() == 0)).sum())
    return (f"{len(study.x_train)} training images, {len(study.x_test)} test images ({n_per} x "
            f"{len(study.class_names)} classes x {len(set(study.conditions))} conditions), {len(study.layer_names)} "
            f"layers; model trained now: {study.info.get('trained_now', 'n/a')}")


def accuracy_floor(study: Study) -> dict:
    """``{"original_accuracy": …}``: the original-condition test accuracy every claim's precondition needs
    (:data:`cnnexplain.papers.aamir.claims.ORIGINAL_ACCURACY_FLOOR`)."""
    original = study.conditions == "original"
    correct = study.predictions().numpy()[original] == study.y_test.numpy()[original]
    return {"original_accuracy": float(correct.mean())}


def train_accuracy(study: Study) -> float:
    """Training accuracy in eval mode on the study's training images: recorded when the net was trained
    (:func:`cnnexplain.papers.aamir.study.training_end_state`), else measured now (e.g. the paper profile's
    pretrained VGG16, read by class group)."""
    if "final_train_accuracy_eval" in study.info:
        return float(study.info["final_train_accuracy_eval"])
    import torch

    from cnnexplain import train as training

    prob = torch.softmax(training.predict(study.model, study.x_train), 1)
    predicted = aamir.predicted_class(prob, study.info.get("groups"))
    return float((predicted == study.y_train).float().mean())


def influence_floor(study: Study) -> dict:
    """The preconditions of every INFLUENCE claim: the original-condition test accuracy and the training
    accuracy (:data:`cnnexplain.papers.aamir.claims.TRAIN_ACCURACY_FLOOR`: influence assumes a minimum)."""
    return dict(accuracy_floor(study), train_accuracy=train_accuracy(study))


def study_values(study: Study) -> dict:
    """What the report says about the study net: training accuracy (eval mode), final training loss and
    full-batch gradient norm, test accuracy per condition, the sizes, and the seconds of each step that built
    it (world images, styled test images, training; absent when loaded from an older cache)."""
    predictions = study.predictions().numpy()
    y = study.y_test.numpy()
    values = {"study_n_train": len(study.x_train), "study_n_test": len(study.x_test),
              "study_train_accuracy_eval": train_accuracy(study)}
    for c in dict.fromkeys(study.conditions):
        sel = study.conditions == c
        values[f"study_test_accuracy_{c}"] = float((predictions[sel] == y[sel]).mean())
    for key, name in (("final_train_loss_eval", "study_final_train_loss"), ("final_gradient_norm", "study_final_gradient_norm"),
                      ("final_gradient_norm_relative", "study_final_gradient_norm_relative"),
                      ("world_train_s", "timing_world_training_images_s"), ("world_test_s", "timing_world_test_images_s"),
                      ("styled_test_s", "timing_styled_test_images_s"), ("train_seconds", "timing_training_s")):
        if key in study.info:
            values[name] = float(study.info[key])
    if study.info.get("train_loss"):
        values["study_epochs"] = len(study.info["train_loss"])
    return values


# ------------------------------------------------------------------------------------- the influence run


def influence_run_values(study: Study, timings: dict) -> tuple[dict, dict]:
    """What notebook 21 reports about the influence computation: ``(values, tables)``: timings, the λ used
    (and how ``damping="auto"`` got there), the problem size, the per-block inverse-HVP residuals, the
    model's size and forward FLOPs and the paper size costed on one GPU
    (:func:`cnnexplain.papers.aamir.study.estimate_paper_seconds`)."""
    values = {f"timing_influence_{k}": float(timings[k]) for k in
              ("block_hessians_s", "test_side_s", "residual_check_s", "training_pass_s", "total_s", "global_total_s")
              if k in timings}
    solver = pd.DataFrame(timings["solver"])
    values.update(influence_damping_used=timings["damping_used"],
                  influence_damping_raises=len(timings.get("damping_raises", [])),
                  influence_sign=timings.get("sign", aamir.ANALYSIS_SIGN),
                  influence_size=f"{timings['n_test']} test x {timings['n_train']} train x {timings['n_layers']} "
                                 f"layers, Hessian on {timings['n_hessian']} images",
                  ihvp_max_relative_residual=float(solver.relative_error.max()),
                  ihvp_method=str(timings.get("method")))
    if study.info.get("train_seconds"):
        values["timing_training_s"] = float(study.info["train_seconds"])
    flops = aamir.forward_flops(study.model, tuple(study.x_test.shape[1:]))
    values.update(model_parameters=int(sum(p.numel() for p in study.model.parameters())),
                  model_forward_gflops=flops / 1e9)
    # the paper size is costed with CG (100 iterations on 512 images), as the paper profile runs it
    values.update({f"estimate_{k}": float(v) for k, v in aamir.estimate_paper_seconds(timings, flops, 100).items()})
    tables = {"table_ihvp_residuals_per_layer": solver}
    if "global_solver" in timings:
        tables["table_ihvp_global"] = pd.DataFrame(timings["global_solver"])
    return values, tables


# ------------------------------------------------------------------------------------------- Table 1


def table1(study: Study) -> tuple[pd.DataFrame, pd.Series]:
    """Table 1: accuracy ± SEM (and the true class's mean probability) per class and condition on every
    test image, and the accuracy per condition."""
    table = aamir.accuracy_table(study.predictions().numpy(), study.y_test.numpy(), study.conditions,
                                 study.class_names, study.true_class_probability().numpy())
    return table, aamir.condition_accuracy(table)


# --------------------------------------------------------------------------------- Fig. 2 and Table 2


def table2(scores: InfluenceScores, study: Study) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Fig. 2 / Table 2: per test image its most influential training image (highest I_total in the
    scores' sign), and per condition the share whose influential image has the true / predicted class.
    The same with the other sign (``eq5_*`` columns and the third table, the sign check: with Eq. 5's
    literal sign the argmax is Koh & Liang's most harmful image). Returns ``(table, agreement, other sign)``."""
    predictions = study.predictions().numpy()
    table = aamir.most_influential_table(scores, study, predictions)
    agreement = aamir.influential_agreement(table)
    table["sign"] = scores.sign  # of the score column
    other = "harmful" if scores.sign == "helpful" else "helpful"
    flipped = aamir.influential_agreement(aamir.most_influential_table(scores.with_sign(other), study, predictions))
    agreement[f"{other}_sign_is_predicted"] = flipped.influential_is_predicted
    agreement[f"{other}_sign_is_true"] = flipped.influential_is_true
    return table, agreement, flipped


def influential_class_values(agreement: pd.DataFrame) -> dict:
    """The shares the Fig. 2 rules take, by rule: original (predicted class), white background (true
    class), styled and textured (differs from the predicted class)."""
    a = agreement
    return {"influential_class_original": {"share": float(a.loc["original", "influential_is_predicted"])},
            "influential_class_white": {"share": float(a.loc["white_background", "influential_is_true"])},
            "influential_class_disturbed": {
                "styled_differs": float(1 - a.loc["styled", "influential_is_predicted"]),
                "textured_differs": float(1 - a.loc["textured", "influential_is_predicted"])}}


# ------------------------------------------------------------------------------------------ Fig. 3, 4


def intra_class(scores: InfluenceScores, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fig. 3: per test image its intra-class I_avg, and per condition median, std, min, max."""
    intra = aamir.intra_class_table(scores, study, study.predictions().numpy())
    spread = intra.groupby("condition", sort=False).I_avg.agg(["median", "std", "min", "max"])
    intra["sign"], spread["sign"] = scores.sign, scores.sign  # of I_avg
    return intra, spread


def styled_median_split(intra: pd.DataFrame) -> dict:
    """Fig. 4: accuracy of the styled images whose I_avg is at/above the whole data set's median
    (:func:`cnnexplain.papers.aamir.study.reference_lines`) and of those below (NaN for an empty side)."""
    median = aamir.reference_lines(intra.I_avg)["median"]
    styled = intra[intra.condition == "styled"]
    above = (styled.I_avg >= median).to_numpy()
    correct = styled.correct.to_numpy()
    return {"accuracy_above": float(correct[above].mean()) if above.any() else float("nan"),
            "accuracy_below": float(correct[~above].mean()) if (~above).any() else float("nan")}


def dispersion(spread: pd.DataFrame) -> dict:
    """Fig. 3's dispersion: the std of I_avg of originals, styled and textured images."""
    return {"original_std": float(spread.loc["original", "std"]), "styled_std": float(spread.loc["styled", "std"]),
            "textured_std": float(spread.loc["textured", "std"])}


# ----------------------------------------------------------------------------------------------- Fig. 7


def inter_class_matrices(scores: InfluenceScores, study: Study) -> dict[str, pd.DataFrame]:
    """Fig. 7: mean I_total of each training class on each test class, for originals, the styled images
    split into correctly and incorrectly classified ones, and textured images."""
    correct = study.predictions().numpy() == study.y_test.numpy()
    matrices = {"original": aamir.inter_class_matrix(scores, study, "original"),
                "styled, correct": aamir.inter_class_matrix(scores, study, "styled", correct),
                "styled, incorrect": aamir.inter_class_matrix(scores, study, "styled", ~correct),
                "textured": aamir.inter_class_matrix(scores, study, "textured")}
    # the header of the saved table (its index column) names the sign
    return {k: m.rename_axis(index=f"test class [mean I_total, {scores.sign} sign]") for k, m in matrices.items()}


def own_class_above_others(matrix: pd.DataFrame) -> float:
    """Share of test classes whose own training class has a higher mean influence than the mean of the
    other training classes (the diagonal of Fig. 7 against its row)."""
    m = matrix.to_numpy()
    off = np.where(np.eye(len(m), dtype=bool), np.nan, m)
    return float(np.mean(np.diag(m) > np.nanmean(off, axis=1)))


# ----------------------------------------------------------------------------------------------- Fig. 9


def layer_profiles(scores: InfluenceScores, study: Study, n_classes: int = 3) -> tuple[np.ndarray, dict]:
    """Fig. 9: each test image's I_Lavg (intra-class mean per layer, ``(n_test, n_layers)``) and the mean
    per condition and layer, over all classes and for the first ``n_classes`` classes."""
    features = aamir.layer_features(scores, study)
    per_class = {"all classes": aamir.mean_influence_per_layer(features, study)}
    for c in range(min(n_classes, len(study.class_names))):
        per_class[study.class_names[c]] = aamir.mean_influence_per_layer(features, study, c)
    header = f"condition [mean I_Lavg, {scores.sign} sign]"  # the saved table's first column
    return features, {k: t.rename_axis(index=header) for k, t in per_class.items()}


def layer_profile_values(profile: pd.DataFrame, names) -> dict:
    """Fig. 9's two claims: Pearson r of the original's layer profile with the white background's and with
    the textured one's, and the layer where the textured profile's |mean| peaks."""
    r = lambda a, b: float(np.corrcoef(profile.loc[a], profile.loc[b])[0, 1])  # noqa: E731
    peak = int(np.argmax(np.abs(profile.loc["textured"].to_numpy())))
    return {"similar": {"r_white": r("original", "white_background"), "r_textured": r("original", "textured")},
            "last_layers": {"peak_layer": names[peak], "peak_index": peak, "n_layers": len(names)}}


# ------------------------------------------------------------------------- layer-wise vs total vs global


def layerwise_vs_total(scores: InfluenceScores, global_scores: InfluenceScores | None, study: Study,
                       features: np.ndarray, intra: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, dict, dict]:
    """The paper's §5 claim: do the 16 per-layer I_Lavg separate the conditions better than the single
    total I_avg (and Koh & Liang's global influence)? Returns ``(table, values, rule arguments)``:
    :func:`cnnexplain.papers.aamir.study.separability` per feature set; the global-vs-total Pearson and
    same-top-image rate; the arguments of the ``layerwise_separates_better`` rule."""
    extra, values = {}, {}
    if global_scores is not None:
        g = global_scores.total
        n_classes = len(study.class_names)
        index = torch.arange(len(study.y_test))
        extra["global Koh & Liang I_avg (1 feature)"] = class_averages(g, study.y_train, n_classes)[index, study.y_test].numpy()
        values["global_vs_total_pearson"] = float(np.corrcoef(g.flatten().numpy(), scores.total.flatten().numpy())[0, 1])
        values["global_vs_total_same_most_influential"] = float((g.argmax(1) == scores.total.argmax(1)).float().mean())
    table = aamir.separability(features, intra.I_avg.to_numpy(), study.conditions, seed=seed, extra=extra)
    lay, tot = table.iloc[0], table.iloc[1]
    nan = float("nan")
    rule = {"cv_layerwise": float(lay.get("cv_accuracy", nan)), "cv_total": float(tot.get("cv_accuracy", nan)),
            "silhouette_layerwise": float(lay.silhouette), "silhouette_total": float(tot.silhouette),
            "chance": float(lay.chance)}
    values["separability_cv_gain_layerwise_minus_total"] = rule["cv_layerwise"] - rule["cv_total"]
    values["separability_silhouette_gain_layerwise_minus_total"] = rule["silhouette_layerwise"] - rule["silhouette_total"]
    return table, values, rule


# ----------------------------------------------------------------------------------------------- Fig. 8


def clustering_table(features: np.ndarray, study: Study) -> tuple[pd.DataFrame, dict]:
    """Fig. 8 per class: the 3-cluster cut of the four conditions' mean I_Lavg (average linkage,
    Euclidean), whether it is the paper's grouping, and the Pearson distances to the original. Returns the
    table and ``{class: (linkage, features, distances)}`` for the panels."""
    panels, rows = {}, []
    for c, cls in enumerate(study.class_names):
        feats = aamir.condition_features(features, study, c)
        link, assignment = aamir.cluster_conditions(feats)
        dist = aamir.correlation_distance(feats)
        rows.append({"class": cls, **{f"cluster_{k}": v for k, v in assignment.items()},
                     "paper_grouping": aamir.paper_grouping_holds(assignment),
                     **{f"corrdist_original_{k}": dist.loc["original", n] for k, n in
                        (("white", "white_background"), ("styled", "styled"), ("textured", "textured"))}})
        panels[cls] = (link, feats, dist)
    return pd.DataFrame(rows), panels


def clustering_values(table: pd.DataFrame) -> dict:
    """Fig. 8's two claims: the share of classes with the paper's grouping, and the share where white
    background is the condition closest to the original."""
    others = table[["corrdist_original_styled", "corrdist_original_textured"]].min(1)
    return {"fig8_three_clusters": {"share": float(table.paper_grouping.mean()), "n_classes": len(table)},
            "fig8_white_closest": {"share": float((table.corrdist_original_white < others).mean())}}


# ---------------------------------------------------------------------------------------------- Fig. 10


def shapley_conditions(study: Study, n_objects: int, max_evals: int, seed: int = 0):
    """Fig. 10: Shapley maps of the first ``n_objects`` objects in all four conditions
    (:func:`cnnexplain.papers.aamir.study.shapley_maps`), their spread per image, and the mean map Pearson
    of the same object between the original and each other condition. Returns ``(index, maps, spread
    table, similarity table, rule arguments by claim)``."""
    n_per = int((study.conditions == "original").sum())
    index = np.concatenate([np.arange(n_objects) + k * n_per for k in range(len(aamir.CONDITIONS))])
    maps = aamir.shapley_maps(study.model, study.x_test[index], max_evals=max_evals, seed=seed)
    spread = pd.DataFrame({"condition": study.conditions[index], "spread": aamir.shapley_spread(maps)})
    by = spread.groupby("condition", sort=False).spread.mean()
    flat = maps.reshape(len(aamir.CONDITIONS), n_objects, -1)
    cond = list(aamir.CONDITIONS)
    r = {c: float(np.mean([np.corrcoef(flat[0, k], flat[cond.index(c), k])[0, 1] for k in range(n_objects)]))
         for c in cond[1:]}
    similarity = pd.DataFrame({"pair": [f"original-{c}" for c in r], "map_pearson": list(r.values())})
    rules = {"fig10_disturbed_more_dispersed": {"original": float(by["original"]), "styled": float(by["styled"]),
                                                "textured": float(by["textured"])},
             "fig10_original_white_alike": {"r_white": r["white_background"], "r_textured": r["textured"],
                                            "r_styled": r["styled"]}}
    return index, maps, spread, similarity, rules


# ------------------------------------------------------------------------------------------ Table 3, Fig. 6


def table3(study: Study, n_per_class: int, seed: int = 0) -> dict:
    """Table 3: the net on texture patches alone, and what it predicts for objects carrying another class's
    texture. The study decides where the patches come from: the world's texture patches, or (an ImageNet
    study, which carries ``info["groups"]``) patches cut from the object region of each class's training
    images (:func:`cnnexplain.papers.aamir.imagenet.paper_texture_patches`), read by class group.

    Returns ``{"patches": table, "batch": patch batch, "after": textured images' classes, "values": …,
    "rules": {claim id: arguments}}``."""
    values = {}
    groups = study.info.get("groups")
    if groups is not None:
        from cnnexplain.papers.aamir.imagenet import paper_texture_patches

        batch, coverage = paper_texture_patches(study, n_per_class, seed=seed)
        values["table3_patch_object_coverage_mean"] = float(coverage.mean())
        patches, batch = aamir.texture_patch_table(study.model, study.class_names, patches=batch, groups=groups)
    else:
        patches, batch = aamir.texture_patch_table(study.model, study.class_names, n_per_class, seed=seed)
    textured = study.conditions == "textured"
    tex_labels = study.texture_labels.numpy()[textured]
    predicted = study.predictions().numpy()[textured]
    shape_labels = study.y_test.numpy()[textured]
    names = np.array(list(study.class_names) + ["other"])
    after = pd.DataFrame({"content (shape) class": names[shape_labels], "texture class": names[tex_labels],
                          "predicted class": names[predicted]})
    values.update(textured_predicted_as_texture_class=float(np.mean(predicted == tex_labels)),
                  textured_predicted_as_shape_class=float(np.mean(predicted == shape_labels)),
                  table3_textures_recognised_alone=", ".join(patches.texture[patches.accuracy >= 0.5]))
    rules = {"table3_patches_recognised": {"patch_accuracy": float(patches.accuracy.mean())},
             "table3_texture_decides": {"texture_share": values["textured_predicted_as_texture_class"],
                                        "shape_share": values["textured_predicted_as_shape_class"]}}
    return {"patches": patches, "batch": batch, "after": after, "values": values, "rules": rules}


def dose_content_and_texture(study: Study, patches: pd.DataFrame, batch) -> tuple[int, int, torch.Tensor]:
    """Fig. 6's inputs, as the paper (§4.2.1): a correctly classified WHITE-background test image (the
    first; the first white-background image if none is correct) and the texture patch of another class that
    the net recognises best on its own (Table 3's highest true-class probability, as the paper's elephant
    skin, 0.95). Returns ``(content index, texture class, texture image)``."""
    whites = np.flatnonzero(study.conditions == "white_background")
    correct = whites[study.predictions().numpy()[whites] == study.y_test.numpy()[whites]]
    content = int(correct[0] if len(correct) else whites[0])
    content_name = study.class_names[int(study.y_test[content])]
    p_true = patches.set_index("texture_of_class").p_true.drop(content_name, errors="ignore")
    texture_class = study.class_names.index(p_true.idxmax())
    return content, texture_class, batch.images[batch.labels == texture_class][0]


def dose_values(dose: pd.DataFrame, content_class: str) -> dict:
    """Fig. 6's two claims from the dose table: where (% texture) the prediction first leaves the content
    class (NaN: never), whether it started correct, the true-class probability at both ends, and the
    Pearson r of dose and intra-class I_avg (NaN when I_avg is constant)."""
    flipped = dose[dose.predicted_class != content_class]
    r = float(np.corrcoef(dose.texture_percent, dose.I_avg_intra)[0, 1]) if dose.I_avg_intra.std() > 0 else float("nan")
    return {"fig6_prediction_flips": {"flip_percent": float(flipped.texture_percent.iloc[0]) if len(flipped) else float("nan"),
                                      "start_correct": bool(dose.predicted_class.iat[0] == content_class),
                                      "p_true_first": float(dose.p_true.iat[0]), "p_true_last": float(dose.p_true.iat[-1])},
            "fig6_influence_falls": {"r": r, "last_I_avg": float(dose.I_avg_intra.iat[-1])}}


# ------------------------------------------------------------------------------------ the sensitivity grid


def sensitivity(grid: aamir.InfluenceGrid, study: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 21's sensitivity tables: per layer and comparison (other Hessian sample, other λ) the
    Pearson r and same-top-image rate (:func:`cnnexplain.papers.aamir.study.sensitivity_table`, layers by
    the paper's names), and one summary row per comparison (shown in REPORT.md)."""
    table = aamir.sensitivity_table(grid, study.aliases(grid.reference_scores.block_names))
    return table, aamir.sensitivity_summary(table)


def grid_claims(grid: aamir.InfluenceGrid, study: Study, seed: int = 0) -> tuple[dict, pd.DataFrame]:
    """Notebook 21's influence claims measured in every cell of the grid: ``({claim id: {cell: rule
    arguments}}, thresholds)``; the thresholds table holds, per cell, Fig. 3/4's reference lines (median,
    min, max of the intra-class I_avg) and Fig. 7's share of test classes whose own training class
    influences them most — the absolute numbers that scale with λ."""
    claims, rows = {}, []
    names = study.aliases(grid.reference_scores.block_names)
    for cell in grid.cells_reference_first():  # the reference cell first: its value is the verdict's
        scores = grid.scores[cell]
        _, agreement, _ = table2(scores, study)
        intra, spread = intra_class(scores, study)
        features, per_class = layer_profiles(scores, study, n_classes=0)
        fig9 = layer_profile_values(per_class["all classes"], names)
        _, _, separates = layerwise_vs_total(scores, None, study, features, intra, seed=seed)
        measured = dict(influential_class_values(agreement),
                        styled_correct_above_median=styled_median_split(intra),
                        disturbed_more_dispersed=dispersion(spread),
                        fig9_original_white_similar=fig9["similar"], fig9_textured_last_layers=fig9["last_layers"],
                        layerwise_separates_better=separates)
        for claim_id, values in measured.items():
            claims.setdefault(claim_id, {})[cell] = values
        lines = aamir.reference_lines(intra.I_avg)
        rows.append({"cell": cell, **{f"I_avg_{k}": v for k, v in lines.items()},
                     "fig7_own_class_above_others": own_class_above_others(
                         aamir.inter_class_matrix(scores, study, "original")), "sign": scores.sign})
    return claims, pd.DataFrame(rows)


def clustering_grid_claims(grid: aamir.InfluenceGrid, study: Study) -> dict:
    """Notebook 23's Fig. 8 claims in every cell of the grid: ``{claim id: {cell: rule arguments}}``."""
    claims = {}
    for cell in grid.cells_reference_first():
        table, _ = clustering_table(aamir.layer_features(grid.scores[cell], study), study)
        for claim_id, values in clustering_values(table).items():
            claims.setdefault(claim_id, {})[cell] = values
    return claims


def printed_eq6_agreement(grid: aamir.InfluenceGrid, study: Study) -> pd.DataFrame:
    """Per layer, how the block-diagonal scores we use (∇_{θ^l}L(test)ᵀ(H_l + λI)⁻¹∇_{θ^l}L(train)) agree with
    Eq. 6 as printed (−∇_θL(test)ᵀH⁻¹∇_{θ^l}L(train), from the global solve) at the reference cell: Pearson r
    and the same-top-image rate; the last row compares their sums (I_total vs the global influence). Empty
    without a global solve."""
    if grid.printed_eq6 is None:
        return pd.DataFrame(columns=["layer", "pearson", "same_top_image"])
    a, b = grid.reference_scores, grid.printed_eq6.with_sign(grid.reference_scores.sign)
    pairs = [(n, a.layers[..., l], b.layers[..., l]) for l, n in enumerate(study.aliases(a.block_names))]
    rows = []
    for name, x, y in pairs + [("total vs global", a.total, b.total)]:
        r = np.corrcoef(x.flatten().double().numpy(), y.flatten().double().numpy())[0, 1]
        rows.append({"layer": name, "pearson": float(r), "same_top_image": float((x.argmax(1) == y.argmax(1)).double().mean())})
    return pd.DataFrame(rows)


def dose_grid(dose: pd.DataFrame) -> dict:
    """The ``fig6_influence_falls`` arguments in every cell of the dose table's grid (its
    ``I_avg_intra[<cell>]`` columns; the reference column alone when it has no grid)."""
    cells = dose.attrs.get("grid") or []  # the reference cell first (texture_dose)
    columns = {c: f"I_avg_intra[{c}]" for c in cells} or {"reference": "I_avg_intra"}
    out = {}
    for cell, column in columns.items():
        values = dose[column]
        r = float(np.corrcoef(dose.texture_percent, values)[0, 1]) if values.std() > 0 else float("nan")
        out[cell] = {"r": r, "last_I_avg": float(values.iat[-1])}
    return out


def dose_sign_values(dose: pd.DataFrame) -> dict:
    """Which reading of the sign Fig. 6 fits: the Pearson r of the texture dose with the intra-class I_avg
    in the helpful sign and in Eq. 5's literal (harmful) sign (its negative), and of the true-class
    probability with the helpful I_avg (> 0: the score falls as the prediction gets worse)."""
    helpful = dose.I_avg_intra if dose.attrs.get("sign", "helpful") == "helpful" else -dose.I_avg_intra
    r = lambda a, b: float(np.corrcoef(a, b)[0, 1]) if np.std(a) > 0 and np.std(b) > 0 else float("nan")  # noqa: E731
    return {"fig6_r_dose_I_avg_helpful_sign": r(dose.texture_percent, helpful),
            "fig6_r_dose_I_avg_literal_eq5_sign": r(dose.texture_percent, -helpful),
            "fig6_r_p_true_I_avg_helpful_sign": r(dose.p_true, helpful),
            "fig6_last_I_avg_helpful_sign": float(helpful.iat[-1])}
