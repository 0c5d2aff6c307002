"""What each notebook claims: bounds on its recorded results, checked after papermill runs it.

Keys are notebook paths relative to ``notebooks/``. A claim names a value the notebook records with
``mi_widgets.book.records`` and the range it must fall in; smoke mode (a few seconds of work) may have
looser bounds, never none. A notebook's prose states its findings from these same records.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple


class Claim(NamedTuple):
    """A recorded number and the closed range [low, high] it must fall in (``smoke``: looser range)."""

    name: str
    low: float = -math.inf
    high: float = math.inf
    smoke: tuple[float, float] | None = None

    def check(self, records: dict[str, Any], smoke: bool) -> str | None:
        """None when the claim holds, else a sentence saying how it fails."""
        if self.name not in records:
            return f"{self.name} was not recorded"
        value = records[self.name]
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)):
            return f"{self.name} = {value!r} is not a number"
        low, high = self.smoke if (smoke and self.smoke) else (self.low, self.high)
        if not low <= value <= high:
            return f"{self.name} = {value} is outside [{low}, {high}]"
        return None


def at_least(name: str, bound: float, smoke: float | None = None) -> Claim:
    return Claim(name, low=bound, smoke=None if smoke is None else (smoke, math.inf))


def at_most(name: str, bound: float, smoke: float | None = None) -> Claim:
    return Claim(name, high=bound, smoke=None if smoke is None else (-math.inf, smoke))


def is_true(name: str) -> Claim:
    return Claim(name, low=1, high=1)


EXPECTATIONS: dict[str, list[Claim]] = {
    "00_start/00_start.ipynb": [
        # The bundled 2-layer model predicts held-out stories far better than a uniform guess (7.6 nats).
        at_most("validation_loss", 1.0, smoke=1.2),
        is_true("loss_beats_uniform"),
        # run_with_cache and nnsight read the same activations and patch to the same logits, exactly.
        at_most("nnsight_read_max_abs_diff", 0.0),
        at_most("nnsight_patch_max_abs_diff", 0.0),
    ],
    "01_models/01_models.ipynb": [
        # The 4-layer model's held-out loss, in nats per token.
        at_most("val_loss_gelu_4l", 0.6, smoke=0.8),
        # Held-out loss falls strictly with size: 1L > 2L attention-only > 2L GELU > 4L GELU.
        is_true("val_loss_strictly_improves"),
        # Every model with two or more layers copies random tokens on their second showing: loss on
        # the second copy under 20% of the first, and a head attending to the token after the earlier
        # occurrence with score above 0.4.
        at_most("max_induction_ratio_2l_plus", 0.2),
        at_least("min_induction_score_2l_plus", 0.4),
        # What the 4-layer model learns: most planted capabilities.
        at_least("capabilities_mostly_right_gelu_4l", 10, smoke=9),
        at_least("accuracy_gelu_4l_ngram", 0.95),
        at_least("accuracy_gelu_4l_skip_trigram", 0.95),
        at_least("accuracy_gelu_4l_quote_close", 0.9, smoke=0.8),
        at_least("accuracy_gelu_4l_related_concept", 0.9),
        at_least("accuracy_gelu_4l_induction_name", 0.8),
        # Indirect objects: right in every role order on the training templates, and (the drill curriculum)
        # on average in every order on the held-out templates too, on two of the three one by one.
        at_least("ioi_min_order_diff_gelu_4l", 2.0, smoke=0.5),
        at_least("ioi_heldout_min_order_diff_gelu_4l", 0.0, smoke=-10.0),
        at_least("ioi_heldout_templates_right_gelu_4l", 2, smoke=0),
        # Crossing template halves in bare scenes: a held-out action ending in "to" (as training actions do)
        # is right in both orders; most whole held-out templates are not without a story around them.
        at_least("ioi_new_action_known_slot_min", 1.0, smoke=0.0),
        at_least("ioi_crossed_right_new_action", 2, smoke=0),
        at_most("ioi_crossed_right_both_new", 1, smoke=3),
    ],
    "20_capabilities/20_capabilities.ipynb": [
        # The loop starts from the confident, correct tokens: about two thirds of held-out tokens for the 1-layer
        # model, three quarters for the 4-layer one; the named patterns leave a sizeable rest unexplained.
        at_most("confident_share_attn_1l", 0.7),
        at_least("confident_share_gelu_4l", 0.7),
        Claim("loop_unexplained_share_attn_1l", 0.2, 0.7),
        # What the 2-layer attention-only model adds to the 1-layer one is mostly repeated names.
        at_least("new_name_share_attn_1l_to_attn_2l", 0.4),
        # Discovery against the planted labels (gelu-4l): six capabilities recovered (recall and labelled
        # precision >= 0.8), names, pronouns, closing quotes and story starts almost perfectly...
        at_least("discovery_recovered", 6, smoke=4),
        at_least("discovery_recall_induction_name", 0.95),
        at_least("discovery_labelled_precision_induction_name", 0.95),
        at_least("discovery_recall_pronoun", 0.95),
        at_least("discovery_recall_quote_close", 0.95),
        at_least("discovery_recall_story_start", 0.95),
        # ...negative results: the common-phrase rule cannot separate planted skip-trigrams from template
        # text, and the indirect-object rule also takes plain repeated names.
        at_most("discovery_precision_skip_trigram", 0.1),
        at_most("discovery_labelled_precision_ioi", 0.8, smoke=0.9),
        # Loss per capability falls from the smallest to the largest model on most capabilities, but at every
        # step of the suite on few (negative result); a second attention layer cuts the loss on names by > 2x.
        at_least("loss_falls_smallest_to_largest", 8, smoke=5),
        at_most("loss_falls_at_every_step", 7),
        at_most("loss_induction_name_ratio_first_two", 0.5),
        # Every task file holds at least 100 held-out items.
        at_least("task_originals_min", 100),
        # Who has what (whole answer right on >= 50% of held-out items): the 1-layer model has 8 of 11...
        Claim("capabilities_in_smallest", 7, 9, smoke=(6, 9)),
        Claim("appears_at_ngram", 0, 0),
        Claim("appears_at_skip_trigram", 0, 0),
        Claim("appears_at_quote_close", 0, 0),
        Claim("appears_at_related_concept", 0, 0),
        # ...repeated names appear only with a second layer (1L: no induction)...
        Claim("appears_at_induction_name", 1, 1),
        at_most("induction_name_accuracy_smallest", 0.4),
        at_least("induction_name_accuracy_gelu_4l", 0.6),
        # ...indirect objects on held-out templates only in the 4-layer model (its drill curriculum), and no
        # model writes whole repeated spans, though larger models copy most of a span's tokens.
        Claim("appears_at_ioi", 3, 3, smoke=(-1, 3)),
        at_least("ioi_max_accuracy", 0.5, smoke=0.0),
        at_least("ioi_logit_diff_gelu_4l", 0.5, smoke=-3.0),
        Claim("appears_at_repeat_span", -1, -1),
        at_least("repeat_span_token_accuracy_largest", 0.5),
        at_most("repeat_span_token_accuracy_smallest", 0.4),
        # Red team (gelu-4l): the one-sentence control hurts look-back capabilities most; renaming changes
        # little; inserted sentences hurt some capabilities a lot; in new wording names are not written
        # (negative result) though the prompt's name still beats an unseen one by a wide margin.
        at_least("redteam_local_drop_lookback", 0.4),
        at_most("redteam_local_drop_other", 0.45, smoke=0.7),
        at_most("redteam_names_max_change", 0.25, smoke=0.75),
        Claim("redteam_distance_max_drop", 0.3, 0.8, smoke=(0.2, 1.0)),
        at_most("synthetic_induction_accuracy", 0.1),
        at_least("synthetic_induction_logit_diff", 5.0, smoke=2.0),
        # Not uniform: 'they' is much harder than the singular pronouns; several capabilities split by >= 0.3.
        at_most("pronoun_accuracy_they", 0.5),
        at_least("pronoun_accuracy_singular", 0.6),
        at_least("uneven_capabilities", 2, smoke=1),
    ],
    "10_dictionaries/10_dictionaries.ipynb": [
        # The TopK SAE trained in the notebook (width 2048, k 16, blocks.2.hook_resid_post).
        at_most("sae_fvu", 0.3, smoke=0.5),
        at_least("sae_loss_recovered", 0.9, smoke=0.8),
        at_most("sae_dead_fraction", 0.05, smoke=0.2),
        # More active latents, better reconstruction, at every k tried.
        is_true("frontier_fvu_falls_with_k"),
        # The skip path lowers the transcoder's FVU.
        is_true("transcoder_skip_helps"),
        # Shipped dictionaries: every one present, residual SAEs recover >= 90% of the loss at L0 <= 32,
        # every shipped SAE (the widest, 4096, included) has under 5% dead latents.
        at_least("shipped_count", 11),
        at_least("shipped_resid_min_loss_recovered", 0.9),
        at_most("shipped_resid_max_l0", 32),
        at_most("shipped_sae_max_dead_fraction", 0.05),
        at_most("shipped_widest_sae_dead_fraction", 0.05),
    ],
    "30_geometry/30_geometry.ipynb": [
        # PCA of SAE codes: the share of the smallest principal components that can be projected out of the
        # codes (decoded, spliced in) with the loss rising by at most 10% of the SAE's own loss gap.
        Claim("ablatable_fraction_resid2_w512", 0.08, 0.3, smoke=(0.0, 0.5)),
        Claim("ablatable_fraction_resid2", 0.15, 0.45, smoke=(0.02, 0.6)),
        # On blocks.2 the share rises with width (512 -> 2048 -> 4096); the widest allows the most.
        Claim("ablatable_rises_with_width", 1, 1, smoke=(0, 1)),
        at_least("width_family_ablatable_widest", 0.3, smoke=0.02),
        Claim("ablatable_fraction_min", 0.08, 0.3, smoke=(0.0, 0.5)),
        Claim("ablatable_fraction_max", 0.35, 0.7, smoke=(0.02, 0.7)),
        # Negative result: across the 7 SAEs the ablatable share does not rise with FVU (the seed's
        # hypothesis: more droppable components = worse SAE), so it fails as a quality metric here...
        at_most("rho_ablatable_fvu", 0.3, smoke=1.0),
        Claim("spectrum_metric_supported", 0, 0),
        # ...while the participation ratio (share of width) ranks SAEs like FVU (a lead: 7 SAEs; the
        # notebook says whether p < 0.05).
        at_least("rho_participation_fvu", 0.5, smoke=-1.0),
        # Number words lie in order along PC1 of their mean residuals (Bonferroni over 6 spaces).
        at_least("number_words_max_line", 0.75, smoke=0.6),
        at_most("number_words_max_line_p", 0.0083, smoke=0.05),
        # Negative result (this model): digits lean the same way but miss the Bonferroni threshold.
        Claim("digits_max_line", 0.5, 0.85, smoke=(0.3, 1.0)),
        at_least("digits_max_line_p", 0.0083, smoke=0.0),
        # Negative result: days are on no ordered circle in any space (embedding, resid0-3, unembedding).
        at_least("days_max_circle_p", 0.0083, smoke=0.0),
        at_most("days_in_order_spaces", 0, smoke=6),
        # Negative result: months are on no circle either (the earlier 4-layer model had them roughly
        # circle-aligned in the unembedding), and never in exact calendar order.
        at_least("months_max_circle_p", 0.0083, smoke=0.0),
        at_most("months_in_order_spaces", 0, smoke=6),
        # Categories in resid2: words sit with their top-level category; animals of each kind look like
        # the other animals (superset); the kinds (mammal/bird/insect) separate weakly or not at all (chance 1/3).
        at_least("top_level_accuracy", 0.8, smoke=0.5),
        at_least("superset_transfer", 0.9, smoke=0.6),
        Claim("kind_accuracy", 0.3, 0.65, smoke=(0.2, 0.9)),
        at_most("kind_accuracy_raw", 0.6, smoke=0.9),
        at_most("kind_accuracy_max_layer", 0.7, smoke=0.9),
        at_most("kind_offset_relative_norm_max", 0.5, smoke=1.0),
        at_most("kind_offset_abs_cos_max", 0.25, smoke=0.5),
        # An SAE latent stands for "animal": high precision, the decoder closest of all latents to the
        # animal mean direction. Negative result: no latent stands for birds (or any one kind).
        at_least("animal_latent_f1", 0.6, smoke=0.4),
        at_least("animal_latent_precision", 0.9, smoke=0.6),
        at_least("animal_latent_decoder_cos", 0.5, smoke=0.3),
        at_most("animal_latent_latents_closer", 2, smoke=20),
        at_most("bird_latent_f1", 0.8, smoke=0.9),
        at_most("kind_latent_max_f1", 0.8, smoke=1.0),
        # Blocks: co-activation clusters hold far more co-activation than time-shifted null data; decoder
        # directions are (slightly) more alike inside them. Negative result on this model: they do not align
        # with word categories beyond chance (the previous 4-layer model's did, AMI 0.34)...
        at_least("coact_within_share", 0.25, smoke=0.2),
        at_most("coact_within_share_null", 0.15, smoke=0.2),
        at_least("decoder_cos_within_minus_between", 0.02, smoke=0.01),
        at_most("decoder_cos_within_minus_between_p", 0.01, smoke=0.1),
        at_most("blocks_category_ami", 0.1, smoke=1.0),
        at_least("blocks_category_ami_p", 0.05, smoke=0.0),
        # ...but negative result: the decoder geometry alone barely has blocks (against random directions
        # with the activations' covariance), and its blocks do not match categories.
        at_most("decoder_within_share", 0.2, smoke=0.3),
        at_most("decoder_within_share_null", 0.15, smoke=0.2),
        at_most("geometry_blocks_category_ami", 0.15, smoke=0.2),
        # Blocks and circuits: the blocks follow the capability their latents serve and, more weakly,
        # the component that writes them; latents serving name induction are written by induction heads.
        at_least("capability_latents", 100, smoke=50),
        at_least("capability_ami", 0.15, smoke=0.1),
        at_most("capability_ami_p", 0.01, smoke=0.1),
        at_least("writer_ami", 0.05, smoke=0.03),
        at_most("writer_ami_p", 0.01, smoke=0.1),
        at_least("induction_latents", 50, smoke=20),
        at_least("induction_latents_written_by_induction_heads", 0.5, smoke=0.3),
        at_most("other_latents_written_by_induction_heads", 0.15, smoke=0.2),
        at_most("induction_writer_p", 1e-6, smoke=1e-3),
    ],
    "31_splitting/31_splitting.ipynb": [
        # Toy model (planted parents, children = parent + modifier, modifiers shared across parents):
        # the narrowest TopK SAE learns the parents and no children; the widest learns most children,
        # which first reach one half at width 64 or more.
        at_least("toy_parents_at_narrowest", 0.75, smoke=0.5),
        at_most("toy_children_at_narrowest", 0.1, smoke=0.2),
        at_least("toy_children_at_widest", 0.6, smoke=0.5),
        Claim("toy_split_width", 64, 256),
        # Before splitting, a middle width learns the modifiers as latents of their own; at the widest
        # they fade into the children.
        at_least("toy_modifier_latents_peak", 0.5),
        Claim("toy_modifier_latents_peak_width", 16, 128),
        at_most("toy_modifier_latents_at_widest", 0.5),
        # Matching by decoder cosine and co-activation puts children under their true parent.
        at_least("toy_family_parent_agreement", 0.9, smoke=0.8),
        # Deltas (child minus parent) recur across families; random directions with the same covariance do not.
        at_least("toy_recurrence", 0.25, smoke=0.2),
        at_most("toy_recurrence_null", 0.1, smoke=0.15),
        # NMF of the deltas recovers most planted modifiers at cosine > 0.9; on the nulls it recovers none,
        # and its components reach deltas of several families more often than the null's.
        at_least("toy_nmf_recovered", 0.5),
        at_most("toy_nmf_recovered_null", 0.17),
        at_least("toy_nmf_shared_components", 0.5),
        at_most("toy_nmf_shared_components_null", 0.5),
        # The same over several toy seeds (one in smoke mode), worst case.
        at_least("toy_seeds", 4, smoke=1),
        at_least("toy_seeds_children_at_widest_min", 0.5),
        at_least("toy_seeds_recurrence_min", 0.2),
        at_most("toy_seeds_recurrence_null_max", 0.15),
        at_least("toy_seeds_nmf_recovered_min", 0.5),
        at_most("toy_seeds_nmf_recovered_null_max", 0.17),
        # Shipped SAEs on blocks.2.hook_resid_post: few dead latents at 512 and at 4096 on these tokens;
        # 512 -> 4096 gives hundreds of split families.
        at_most("real_dead_fraction_narrow", 0.01),
        at_most("real_dead_fraction_wide", 0.06, smoke=0.15),
        at_least("real_families", 100, smoke=50),
        # Negative result: no modifier direction recurs across real families. Almost no delta has a
        # cross-family partner within cosine 0.8, the mean best match beats the matched null by under
        # 0.05, no NMF component reaches two families, and children sharing a context (the same
        # over-represented previous token) in different families have deltas at mean cosine under 0.15.
        at_most("real_recurrence", 0.02, smoke=0.05),
        Claim("real_best_cosine_excess", 0.0, 0.05),
        at_most("real_star_partner_cosine", 0.8),
        # The one best cross-family pair does not even share its commonest token (on the previous 4-layer
        # model it was two children of the same token under two parents).
        Claim("real_star_pair_same_token", 0, 0, smoke=(0, 1)),
        at_most("real_nmf_shared_components", 0.1),
        at_most("real_nmf_component_best_cosine_mean", 0.8),
        at_least("real_same_context_pairs", 100, smoke=20),
        at_most("real_same_context_cosine", 0.15, smoke=0.2),
    ],
    "40_lens/40_lens.ipynb": [
        # Logit lens: KL from the output falls block by block; recomputing the final norm beats freezing it
        # at every reading but the embeddings, where the frozen scale wins.
        is_true("lens_kl_falls_with_depth"),
        Claim("lens_frozen_wins", 1, 1),
        is_true("lens_frozen_wins_embed"),
        at_most("kl_recompute_block2", 0.6, smoke=0.8),
        # The pre-unembed SAE's sweep (from its config): the shipped k/lr is the sweep's best; k 16 loses
        # >= 1.2x the loss of k 32; FVU and spliced loss rank the runs alike (Spearman >= 0.8).
        is_true("final_sweep_best_is_shipped"),
        at_least("final_sweep_k16_over_k32", 1.2),
        at_least("final_sweep_fvu_loss_spearman", 0.8),
        # Spliced in, `final` costs under 0.6x (shipped) / 0.8x (recomputed here) resid3's loss increase.
        at_most("final_over_last_loss_increase", 0.6),
        at_most("final_over_last_loss_increase_here", 0.8, smoke=1.0),
        at_most("final_fvu_here", 0.1, smoke=0.15),
        # Class enrichment beats isotropic random directions (margin, share above the null's 95th pct)...
        at_least("enrich_margin_isotropic", 0.4, smoke=0.3),
        at_least("enrich_share_above_isotropic95", 0.08, smoke=0.07),
        at_least("labelled_classes_promoted", 10),
        # ...negative result: not random directions with the activations' covariance.
        at_most("enrich_margin_covariance", 0.0),
        at_most("enrich_share_above_covariance95", 0.1, smoke=0.1),
        # Negative result, per layer: the plain logit lens predicts the measured ablation effect better than
        # the best pre-unembed reading (correlation gap below zero), and the lens beats the direct pre-unembed
        # reading on most ablations.
        at_most("preunembed_minus_lens_L0", -0.03, smoke=0.05),
        at_most("preunembed_minus_lens_L1", -0.03, smoke=0.05),
        at_most("preunembed_minus_lens_L2", -0.03, smoke=0.05),
        at_least("lens_beats_preunembed_share", 0.8, smoke=0.6),
        at_least("r_lens_L0", 0.4, smoke=0.3),
        at_least("r_lens_L1", 0.4, smoke=0.3),
        at_least("r_lens_L2", 0.4, smoke=0.3),
        # Even `final` on the measured change of its input correlates weakly with the logit change.
        at_most("r_preunembed_ceiling_L0", 0.6, smoke=0.75),
        at_most("r_preunembed_ceiling_L1", 0.6, smoke=0.75),
        at_most("r_preunembed_ceiling_L2", 0.6, smoke=0.75),
        # The second-order path through frozen attention changes the window correlation little; letting
        # later MLPs react (patterns frozen) raises it at every layer.
        Claim("attention_gain_window_L0", -0.02, 0.05, smoke=(-0.05, 0.1)),
        Claim("attention_gain_window_L1", -0.02, 0.05, smoke=(-0.05, 0.1)),
        Claim("attention_gain_window_L2", -0.02, 0.05, smoke=(-0.05, 0.1)),
        at_least("frozen_blocks_gain_min", 0.02, smoke=0.0),
    ],
}
