from cnnexplain.teaching.cells import Exercise

NOTEBOOK = "23_influence_clustering"
OBJECTIVES = [
    "build the 16-layer influence profile I_Lavg of a test image",
    "compare profiles by Pearson correlation distance",
    "cluster the four conditions hierarchically (average linkage) and read the dendrogram",
    "judge whether {original, white background}, {styled}, {textured} form the paper's three clusters",
]
EQUATIONS = r"""
## Influence profiles and their clustering (Aamir et al. §3.2, Fig. 8)

Per test image $\hat x_k$ the profile $I_{\text{Lavg}}(\hat x_k) = (l_{1,\text{avg}}, \dots, l_{16,\text{avg}})$
holds the intra-class mean of each layer's score $S_l$ (`layerwise.intra_class_average(scores.layers, ...)`).
Two profiles $a, b$ are compared by the Pearson correlation distance

$$d(a, b) = 1 - r(a,b) = 1 - \frac{\sum_l (a_l - \bar a)(b_l - \bar b)}{\sqrt{\sum_l (a_l-\bar a)^2}\sqrt{\sum_l (b_l-\bar b)^2}}$$

(`scipy.spatial.distance.correlation`), and clusters are merged by average linkage: the distance of two
clusters is the mean of $d$ over all their pairs (`scipy.cluster.hierarchy.linkage(..., method="average")`).
"""
GIVEN = "import numpy as np\nfrom cnnexplain.teaching import checks, exercises\n"
EXERCISES = [
    Exercise("23.1", "implement", "Correlation distance",
             "**Implement.** `a` and `b` are two 16-layer influence profiles. Compute their Pearson correlation "
             "distance with numpy. Why does an offset (`b + 2`) not change it?",
             GIVEN + "a, b = exercises.layer_vectors(SEED)\n",
             "answer = 1 - np.corrcoef(a, b)[0, 1]",
             "checks.check_correlation_distance(answer, seed=SEED)",
             ("answer = np.corrcoef(a, b)[0, 1]", "answer = np.linalg.norm(a - b)")),
    Exercise("23.2", "predict", "Three clusters",
             "**Predict, then run.** `profiles` maps each condition to its mean profile. Plot or print them and "
             "predict which two conditions share a cluster when the tree is cut into 3 clusters (average linkage, "
             "correlation distance). Set `answer` to a set of two condition names, then verify with scipy.",
             GIVEN + "from scipy.cluster.hierarchy import fcluster, linkage\n"
                     "profiles = exercises.condition_profiles(SEED)\n",
             "names = list(profiles)\n"
             "labels = fcluster(linkage(np.stack([profiles[n] for n in names]), method='average', "
             "metric='correlation'), 3, criterion='maxclust')\n"
             "answer = {n for n, lab in zip(names, labels) if list(labels).count(lab) == 2}",
             "checks.check_three_clusters(answer, seed=SEED)",
             ("answer = {'styled', 'textured'}", "answer = {'original', 'styled'}")),
]
