"""Dialect and spoken-Finnish normaliser: proposes a standard form for each token.

Sources of evidence, in order:

1. a lexicon of observed dialect → standard pairs learned from the SKN corpus (word-aligned dialect
   speech, CC BY 4.0) plus a short hand-written list of colloquial words (``mä`` → ``minä``); a spoken form
   that Voikko accepts as standard Finnish keeps its own reading unless SKN's speakers mostly meant another;
2. standard word forms: Voikko's morphology (``pyvoikko``) and a *standard vocabulary* (UD Finnish word
   forms, SKN's standard side, simplemma's lemma list): a token found there is never changed;
3. for the rest: SKN's phonetic letters spelt out (δ, ə), then the learned character-level model's guess
   (``dialect_model``) and rewrites by rules for the phenomena of Finnish dialects (gemination, ``ee`` for
   ``eA``, epenthetic vowels, lost ``d``, ``ae`` for ``ai``, open diphthongs ``ua``/``iä``/``yä``,
   Ostrobothnian ``th``, short verb forms, clitics) and by suffix rewrites learned from the lexicon. A
   candidate is kept only when Voikko (or the standard vocabulary) accepts it; otherwise the token stays
   as spoken.

The original token is always kept by callers; this module only proposes.
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from koodari.nlp.dialect_beam import BeamModel
from koodari.nlp.dialect_model import DialectModel, shipped_model
from koodari.nlp.loader import voikko_analyser, voikko_available
from koodari.nlp.resources import load_normaliser_resources, normaliser_dir

# changes whenever the normaliser's output may change (fifth pass: the n-best reranked by learned weights); an
# analysis cache keyed by the pipeline should include it
VERSION = "5"
VOWELS = "aeiouyäö"
BACK = set("aou")
CONSONANTS = "bcdfghjklmnpqrstvwxz"
GENERAL_FREQUENCY = "general-frequency.tsv.gz"  # models/build_normaliser.py --general-frequency
WORD_RE = re.compile(r"^[A-Za-zÅÄÖåäöÉéÜüδə-]+$")
PHONETIC = re.compile("[δə]")  # SKN's phonetic letters: δ (a spirant, standard d or t), ə (a reduced vowel)
# the learned reranker (``Normaliser.rerank_features``): a conditional logistic regression over the forms competing
# for one word (and leaving it as spoken), fitted by models/fit_reranker.py on SKN's development pseudo-locations
# (the location-split model's n-best for words it never saw)
RERANK_FEATURES = (
    "log_prob", "model_first", "model_top5", "model_nbest", "zipf", "zipf_unknown", "rule", "rule_cost",
    "edit_distance", "keep", "keep_log_prob", "skn_frequency", "length_change", "length_change_squared",
)
RERANK_WEIGHTS = (
    0.4672, 0.2309, 0.1119, -0.8126, 0.9562, 0.8899, 1.6145, -0.3842,
    -5.3467, -2.4919, 0.2772, 0.2589, 7.1690, -1.5771,
)
RERANK_KEEP_FLOOR = -20.0  # the log-probability of leaving the word as spoken when the n-best lacks it


def voikko_accepts(word: str) -> bool:
    """Voikko's Finnish morphology recognises ``word`` as a standard word form (lower-cased: Voikko's proper
    nouns are matched in lower case too). The loader's analyser remembers each word form."""
    return bool(voikko_analyser()(word.lower()))


def phonetic_variants(word: str) -> list[str]:
    """Spellings of a word written with SKN's phonetic letters in standard letters (δ → d or t, ə → e or
    nothing), the ``d`` reading first."""
    variants = [""]
    for ch in word:
        options = {"δ": ("d", "t"), "ə": ("e", "")}.get(ch, (ch,))
        variants = [v + o for v in variants[:64] for o in options]
    return variants


def harmony(word: str) -> str:
    """'a' for back-vowel words, 'ä' for front-vowel ones (Finnish vowel harmony)."""
    return "a" if any(ch in BACK for ch in word) else "ä"


def _degeminate(word: str) -> Iterable[tuple[str, float]]:
    # yleisgeminaatio: tullee, ossaa, pittää, jokkainen, kiertämmään, pyritäkkään
    for i in range(1, len(word) - 1):
        if word[i] == word[i + 1] and word[i] in CONSONANTS and word[i - 1] in VOWELS:
            yield word[:i] + word[i + 1 :], 1.0


def _long_vowel(word: str) -> Iterable[tuple[str, float]]:
    # tärkee -> tärkeä, hirveen -> hirveän, tietoo -> tietoa, kaikkee -> kaikkea
    a = harmony(word)
    for m in re.finditer(r"(?<=[^aeiouyäö])(ee|oo|öö)(?![aeiouyäö])|(?<=[^aeiouyäö])(ii|uu|yy)(?=[nt]?$)", word):
        first = m.group()[0]
        yield word[: m.start() + 1] + a + word[m.end() :], 1.0
        if first in "eo":
            yield word[: m.start() + 1] + ("a" if first == "o" else a) + word[m.end() :], 1.1


def _epenthesis(word: str) -> Iterable[tuple[str, float]]:
    # vanahemmat -> vanhemmat, palakka -> palkka, helepompi -> helpompi
    for m in re.finditer(r"([aeiouyäö])([lhrn])\1(?=[bcdfghjklmnpqrstvwxz])", word):
        yield word[: m.start() + 2] + word[m.end() :], 1.0
    for m in re.finditer(r"(?<=[lh])i(?=j)", word):  # palijon -> paljon
        yield word[: m.start()] + word[m.end() :], 1.0


def _lost_d(word: str) -> Iterable[tuple[str, float]]:
    # viiä -> viedä, voijaan -> voidaan, tehä -> tehdä, yhessä -> yhdessä, kuukauen -> kuukauden
    for m in re.finditer(r"(?<=[aeiouyäö])j(?=[aeiouyäö])", word):
        yield word[: m.start()] + "d" + word[m.end() :], 1.0
    for m in re.finditer(r"h(?=[aeiouyäö])", word):
        if m.start() > 0:
            yield word[: m.end()] + "d" + word[m.end() :], 1.2
    for m in re.finditer(r"(?<=h)e(ss|ks)", word):
        yield word[: m.start()] + "d" + word[m.start() :], 1.0
    for m in re.finditer(r"(?<=[aeiouyäö])(?=[aeiouyäö])", word):
        yield word[: m.start()] + "d" + word[m.start() :], 1.3
    for m in re.finditer(r"ii(?=[aä])", word):
        yield word[: m.start()] + "ied" + word[m.end() :], 1.1
    for m in re.finditer(r"(?<=[aeiouyäö])v(?=[aeiouyäö])", word):
        yield word[: m.start()] + "d" + word[m.end() :], 1.3


def _diphthong(word: str) -> Iterable[tuple[str, float]]:
    # aekaa -> aikaa, vaekeista -> vaikeista; tärkiä -> tärkeä
    for m in re.finditer(r"(?<=[aoäö])e", word):
        yield word[: m.start()] + "i" + word[m.end() :], 1.0
    for m in re.finditer(r"(?<=[^aeiouyäö])i(?=[aä])", word):
        yield word[: m.start()] + "e" + word[m.end() :], 1.1


def _verb_forms(word: str) -> Iterable[tuple[str, float]]:
    # pitäs -> pitäisi, ollu -> ollut, saapi -> saa, tarvii -> tarvitsee
    if word.endswith("is") and len(word) > 3:
        yield word + "i", 1.0
    elif word.endswith("s") and len(word) > 3 and word[-2] in VOWELS:
        yield word[:-1] + "isi", 1.0
    if word.endswith(("nu", "ny", "lu", "ly", "ru", "ry", "su", "sy")) and len(word) > 3:
        yield word + "t", 1.0
    if word.endswith("pi") and len(word) > 4 and word[-3] in VOWELS:
        yield word[:-2], 1.0
    if word.endswith("ko") or word.endswith("kö"):
        yield word[:-2] + "isi" + word[-2:], 1.4


def _clitics(word: str) -> Iterable[tuple[str, float]]:
    # muuhi -> muukin, pitäski -> pitäisikin, tulostaki -> tulostakin, kuitenni -> kuitenkin
    for suffix in ("hin", "hi"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            yield word[: -len(suffix)] + "kin", 1.0
    if word.endswith("ki") and len(word) > 4:
        yield word + "n", 1.0
        if word.endswith("ski") and len(word) > 5:
            yield word[:-3] + "isikin", 0.9
    if word.endswith("nni"):
        yield word[:-3] + "nkin", 1.1
    for m in re.finditer(r"kk(?=[aä]{2}n$|in$)", word):
        yield word[: m.start()] + "k" + word[m.end() :], 1.0


def _ts(word: str) -> Iterable[tuple[str, float]]:
    # kattoo -> katsoa, itteeni -> itseäni, ite -> itse
    for m in re.finditer(r"(?<=[aeiouyäö])tt?(?=[aeiouyäö])", word):
        yield word[: m.start()] + "ts" + word[m.end() :], 1.2


def _oi(word: str) -> Iterable[tuple[str, float]]:
    # kuntonen -> kuntoinen, tavotteet -> tavoitteet, lähtösin -> lähtöisin
    for m in re.finditer(r"(?<=[oöuy])(?=[nst])", word):
        yield word[: m.start()] + "i" + word[m.start() :], 1.1


def _open_diphthong(word: str) -> Iterable[tuple[str, float]]:
    # Savo and the east open long vowels and diphthongs: tuassa -> tuossa, tiällä -> tiellä, yätä -> yötä,
    # soanu -> saanu(t), peä -> pää, kiäli -> kieli
    for m in re.finditer(r"ua|iä|yä|ia|oa|eä", word):
        pair = m.group()
        target = {"ua": "uo", "iä": "ie", "yä": "yö", "ia": "ie", "oa": "aa", "eä": "ää"}[pair]
        if pair in ("ia", "oa", "eä") and m.start() > 0 and word[m.start() - 1] in VOWELS:
            continue
        yield word[: m.start()] + target + word[m.end() :], 1.0 if pair in ("ua", "iä", "yä") else 1.2


FIRST_PASS_RULES: list[Callable[[str], Iterable[tuple[str, float]]]] = [
    _degeminate,
    _long_vowel,
    _epenthesis,
    _lost_d,
    _diphthong,
    _verb_forms,
    _clitics,
    _ts,
    _oi,
]
def _ostrobothnian_h(word: str) -> Iterable[tuple[str, float]]:
    # Ostrobothnia and the north write a long consonant as consonant + h: kupathin -> kupattiin (with the
    # vowel, below), pitäkhän -> pitäkään; and an h between vowels is added: kylhään -> kylään
    for m in re.finditer(r"(?<=[aeiouyäö])([tkp])h(?=[aeiouyäö])", word):
        yield word[: m.start()] + m.group(1) * 2 + word[m.end() :], 0.9
        yield word[: m.start()] + m.group(1) + word[m.end() :], 1.0
    for m in re.finditer(r"(?<=[lnr])h(?=[aeiouyäö])", word):
        yield word[: m.start()] + word[m.end() :], 1.0
    for m in re.finditer(r"(?<=[aeiouyäö])([aeiouyäö])n$", word):  # -thin -> -ttiin: the passive's long vowel
        if m.start() > 0 and word[m.start() - 1] not in VOWELS:
            yield word[: m.start()] + m.group(1) * 2 + "n", 1.2


def _apocope(word: str) -> Iterable[tuple[str, float]]:
    # the west and south-west drop a final vowel after a consonant cluster: varmast -> varmasti, tamperelt ->
    # tampereelta (with the rules above), meinink -> meininki
    if len(word) > 3 and word[-1] in CONSONANTS and word[-2] in CONSONANTS:
        a = harmony(word)
        yield word + "i", 1.0
        yield word + a, 1.0
        yield word + "e", 1.2


RULES = [_open_diphthong, _ostrobothnian_h, *FIRST_PASS_RULES]


@dataclass(eq=False)
class Normaliser:
    """Proposes standard forms. Build with ``Normaliser.load()`` (the shipped resources)."""

    lexicon: dict[str, str]
    lexicon_counts: dict[str, int]
    standard: frozenset[str]
    known: Callable[[str], bool]
    suffix_rules: list[tuple[str, str, float]]
    frequency: dict[str, int] = field(default_factory=dict)
    context: dict[tuple[str, str, str], str] = field(default_factory=dict)
    frequency_weight: float = 0.3
    protect_known: bool = True
    standard_rewrite_count: int = 3
    model: DialectModel | None = None  # a DialectModel: learned guesses for forms nothing else resolves
    guesses: dict[str, str | None] = field(default_factory=dict)
    repaired: dict[str, str] = field(default_factory=dict)  # rejected guesses a rule rewrite made standard
    # which learned guesses are kept: "standard" (every word in the standard vocabulary), "known" (or known to
    # the dictionary, simplemma), "any" (no check); chosen on SKN's development utterances (bench/lemma.py)
    guess_check: str = "known"
    model_first: bool = True  # the learned guess wins over a rule rewrite (True) or only fills in (False)
    # Voikko's morphology as the test of a standard word form (``voikko``): a spoken token Voikko accepts stays
    # as spoken unless SKN's speakers meant another word by it at least ``voikko_rewrite_share`` of the times
    # they said it; candidates (rules, the learned model) are kept only when Voikko (or the standard
    # vocabulary) accepts every word of them; a form only simplemma knows (`katotaan`) is colloquial and gets
    # a rule rewrite up to ``colloquial_max_cost``; a learned guess Voikko rejects may be repaired by rule
    # rewrites up to ``repair_cost``. All chosen on SKN's development pseudo-locations (bench/normaliser.py).
    voikko: bool = True
    voikko_rewrite_share: float = 0.5
    colloquial_max_cost: float = 2.5
    repair_cost: float = 2.5
    spoken_counts: dict[str, int] = field(default_factory=dict)  # how often SKN's speakers said each lexicon form
    # SKN's phonetic letters (δ, ə), the eastern open diphthongs (`tuassa`) and Ostrobothnian `th` (`kupathin`)
    dialect_rules: bool = True
    # the learned model's n-best (``beam``, ``beam_size`` forms) and the rules' rewrites (up to ``rerank_rule_cost``)
    # compete on one score for a form nothing else resolves (a noisy channel): the model's log-probability of the
    # form, plus ``rerank_general`` × its Zipf frequency in general Finnish (``general_frequency``, wordfreq), minus
    # ``rerank_unknown`` when general Finnish never uses it; for a rule rewrite minus ``rerank_rule_weight`` × its
    # cost, plus ``rerank_cheap_rule`` for a one-step rewrite and ``rerank_agree`` when the model proposes it too.
    # Only standard forms compete; the best is kept when it scores above ``rerank_floor`` (else the word stays as
    # spoken). When the model would rather keep
    # the word as spoken (its edit classifier's 'keep' within ``rerank_keep_margin`` of its best standard form)
    # and a one-step rule rewrite exists, that rewrite is taken (`pitäski` → `pitäisikin`). All chosen on SKN's
    # development pseudo-locations (bench/normaliser.py). That is the third pass's hand-set score
    # (``rerank_learned=False``, with ``beam_size`` 5); the fifth pass's learned reranker (``rerank_learned``) scores
    # the model's 10-best and the rules' rewrites by a conditional logistic regression (``RERANK_WEIGHTS``).
    weak_pair_count: int = 2  # a pair heard fewer times is weak evidence: a cheap rule rewrite may win over it
    weak_pair_margin: float = 1.0
    apocope: bool = True  # the rule for a dropped final vowel (`varmast`)
    standard_context: bool = True  # the context table's rows by standard forms (``prevstd``/``nextstd``)
    beam: BeamModel | None = None
    beam_size: int = 10
    rerank_learned: bool = True
    # a form only the model's ranks 6-10 propose competes when at most this share of the word is edited (TDT dev:
    # `Simonides` → `semmoisessa` 19 times otherwise; development ±0)
    rerank_deep_edit: float = 0.5
    rerank_keep_rule: bool = False  # the third pass's cheap-rewrite rule on top (development −0.08 points)
    general_frequency: Path | None = None
    rerank_rule_cost: float = 3.0
    rerank_general: float = 1.0
    rerank_unknown: float = 6.0
    rerank_cheap_rule: float = 2.0
    rerank_rule_weight: float = 0.5
    rerank_agree: float = 1.0
    rerank_keep_margin: float = 2.0
    rerank_floor: float = -12.0
    rerank_unknown_rules: bool = False  # rule rewrites general Finnish never uses compete too (costs Voikko look-ups)
    # common English words that are no Finnish word (resources' ``english-words.txt.gz``): one SKN never heard stays
    # as spoken (the learned model read *meeting* as *menetin*, *text* as *te*; 4 of the 17,234 development tokens
    # are such forms, 1 of them normalised otherwise than before)
    english: frozenset[str] = frozenset()

    @classmethod
    def load(cls, folder: Path | None = None, use_simplemma: bool = True, learned: bool = True) -> Normaliser:
        """The shipped normaliser (or one built from the resources in ``folder``)."""
        folder = folder or normaliser_dir()
        model = shipped_model(folder) if learned else None
        beam = BeamModel(model.path) if model is not None else None  # the same export, n-best and scores
        general = folder / GENERAL_FREQUENCY
        return cls(**load_normaliser_resources(folder, use_simplemma), model=model, voikko=voikko_available(),
                   beam=beam, general_frequency=general if general.is_file() else None)

    def normalise(self, token: str) -> str:
        """The lexicon's and the rules' standard form of one token (the token itself when it is standard or
        unknown); the learned model and the context take part in ``normalise_tokens``/``normalise_sentences``."""
        return _normalise_cached(self, token, False)

    def normalise_tokens(self, tokens: Iterable[str]) -> list[str]:
        """Normalise a sentence; a neighbouring word may decide between readings (`ko` → `kun`/`kuin`)."""
        return self.normalise_sentences([list(tokens)])[0]

    def normalise_sentences(self, sentences: list[list[str]]) -> list[list[str]]:
        """Normalise sentences; forms that nothing else resolves are guessed by the learned model in one batch."""
        out = [self._normalise_sentence(tokens) for tokens in sentences]
        if self.model is None and self.beam is None:
            return out
        unresolved = {
            t.lower()
            for tokens, norms in zip(sentences, out, strict=True)
            for t, n in zip(tokens, norms, strict=True)
            if (n == t or self.model_first) and self._guessable(t.lower())
        }
        wanted = sorted(w for w in unresolved if w not in self.guesses)
        if self.beam is not None:
            self._rerank(wanted)
            for tokens, norms in zip(sentences, out, strict=True):
                for i, t in enumerate(tokens):
                    if t.lower() in self.guesses:
                        guess = self.guesses[t.lower()]
                        norms[i] = _restore_case(t, guess) if guess else t
            return out
        for word, guess in zip(wanted, self.model.guess(wanted), strict=True):
            if guess == word:
                self.guesses[word] = None
            elif self._acceptable(guess):
                self.guesses[word] = guess
            elif self.voikko and self.repair_cost > 0 and WORD_RE.match(guess):
                # the model's guess is not a word, but a rule step or two away from one is (ahistamaan ->
                # ahdistamaan): kept only where the rules found nothing (`tärkee`: the rules' `tärkeä` beats the
                # guess `tärkeen` repaired to `tärkeän`)
                repaired = self._candidate(guess, max_cost=self.repair_cost)
                self.guesses[word] = None
                if repaired:
                    self.repaired[word] = repaired
            else:
                self.guesses[word] = None
        for tokens, norms in zip(sentences, out, strict=True):
            for i, (t, n) in enumerate(zip(tokens, norms, strict=True)):
                guess = self.guesses.get(t.lower()) if n == t or self.model_first else None
                guess = guess or (self.repaired.get(t.lower()) if n == t else None)
                if guess:
                    norms[i] = _restore_case(t, guess)
        return out

    def _rerank(self, words: list[str]) -> None:
        """The best standard form for each word among the learned model's n-best and the rules' rewrites (see
        ``beam``), or None (the word stays as spoken), into ``guesses``."""
        assert self.beam is not None
        # the learned reranker scores every form before asking Voikko, then checks the best first (fewer look-ups)
        nbest, options = self.rerank_options(words, check=not self.rerank_learned)
        for word, found in options.items():
            if self.rerank_learned:
                best = self._learned_choice(word, found, nbest.get(word, ()))
            else:
                best = self._hand_choice(word, found, nbest.get(word, ()))
            if best is None and PHONETIC.search(word):  # never left with δ or ə: the standard-letter spelling
                best = self._normalise(word, defer=False).lower()
            self.guesses[word] = best

    def rerank_options(self, words: list[str], check: bool = True
                       ) -> tuple[dict[str, list[tuple[str, float]]], dict[str, dict[str, list]]]:
        """The learned model's n-best per word, and the standard forms that compete for each word: form ->
        [log-probability, rule cost or None, rank in the model's n-best or None]; without ``check`` the forms are
        not yet checked to be standard (Voikko)."""
        assert self.beam is not None
        nbest = self.beam.nbest(words, self.beam_size)
        options: dict[str, dict[str, list]] = {}
        for word in words:
            found: dict[str, list] = {}
            for rank, (form, log_prob) in enumerate(nbest.get(word, ())):
                if form != word and (not check or self.is_standard(form)):
                    found[form] = [log_prob, None, rank]
            phonetic = self.dialect_rules and PHONETIC.search(word) is not None
            for source in phonetic_variants(word) if phonetic else [word]:
                # a δ/ə word: each standard-letter spelling (and its lexicon reading) as a zero-cost rewrite
                spelt = [(0.0, source), (0.0, self.lexicon.get(source, source))] if phonetic else []
                for cost, form in spelt + self.candidates(source):
                    if cost > self.rerank_rule_cost:
                        break
                    # a rewrite general Finnish never uses competes when the model proposes it (or, for the learned
                    # reranker, when the standard vocabulary has it: no Voikko look-up)
                    known = (self.rerank_unknown_rules or self.zipf(form) > 0
                             or (self.rerank_learned and form in self.standard))
                    if form in found or (known and (not check or self.is_standard(form))):
                        entry = found.setdefault(form, [None, None, None])
                        entry[1] = cost if entry[1] is None else min(cost, entry[1])
            if self.rerank_learned:  # a form only the model's lower ranks propose is a small edit (not `Simonides`)
                for form in [f for f, (_, cost, rank) in found.items() if cost is None and rank >= 5
                             and Levenshtein.distance(word, f) > self.rerank_deep_edit * len(word)]:
                    del found[form]
            options[word] = found
        unscored = [(w, f) for w, found in options.items() for f, (log_prob, _, _) in found.items() if log_prob is None]
        for (word, form), log_prob in zip(unscored, self.beam.score(unscored), strict=True):
            options[word][form][0] = log_prob
        return nbest, options

    def rerank_features(self, word: str, form: str, entry: list | None, keep_log_prob: float) -> list[float]:
        """The learned reranker's features (``RERANK_FEATURES``) of one competing form; ``entry`` as in
        ``rerank_options`` (None: leaving the word as spoken)."""
        if entry is None:
            return [0.0] * 9 + [1.0, keep_log_prob, 0.0, 0.0, 0.0]
        log_prob, cost, rank = entry
        zipf = self.zipf(form)
        change = (len(form) - len(word)) / len(word)
        return [
            log_prob, float(rank == 0), float(rank is not None and rank < 5), float(rank is not None), zipf,
            float(zipf == 0), float(cost is not None), cost or 0.0, Levenshtein.distance(word, form) / len(word),
            0.0, 0.0, math.log1p(self.frequency.get(form, 0)), change, change * change,
        ]

    def rerank_table(self, word: str, found: dict[str, list], nbest: Iterable[tuple[str, float]]
                     ) -> tuple[list[str], list[list[float]]]:
        """The competing forms of a word, leaving it as spoken last, and their features."""
        keep = max(dict(nbest).get(word, RERANK_KEEP_FLOOR), RERANK_KEEP_FLOOR)
        forms = [*found, word]
        rows = [self.rerank_features(word, f, found[f], keep) for f in found]
        return forms, [*rows, self.rerank_features(word, word, None, keep)]

    def _learned_choice(self, word: str, found: dict[str, list], nbest: Iterable[tuple[str, float]]) -> str | None:
        """The standard form the learned reranker scores highest (``RERANK_WEIGHTS``), None when leaving the word as
        spoken scores higher. ``found`` need not be checked yet: the forms are checked best first."""
        forms, rows = self.rerank_table(word, found, nbest)
        scores = [sum(w * x for w, x in zip(RERANK_WEIGHTS, row, strict=True)) for row in rows]
        ranked = sorted(zip(scores, forms, strict=True), key=lambda x: -x[0])
        best = next(f for _, f in ranked if f == word or self.is_standard(f))
        if self.rerank_keep_rule:
            # the model would rather keep the word and a one-step rule rewrite general Finnish knows exists: the
            # rewrite (`pitäski` → `pitäisikin`, the third pass's rule)
            model_best = max((e[0] for f, e in found.items() if e[2] is not None and self.is_standard(f)),
                             default=-math.inf)
            keep = dict(nbest).get(word, -math.inf)
            cheap = [(e[1], -self.zipf(f), f) for f, e in found.items()
                     if e[1] is not None and e[1] <= 1.0 and self.zipf(f) > 0 and self.is_standard(f)]
            if cheap and keep + self.rerank_keep_margin >= model_best and not PHONETIC.search(word):
                best = min(cheap)[2]
        return None if best == word else best

    def _hand_choice(self, word: str, found: dict[str, list], nbest: Iterable[tuple[str, float]]) -> str | None:
        """The third pass's hand-set score (model log-probability + general frequency + rule bonuses)."""
        best, best_score = None, self.rerank_floor
        model_best, cheapest = -math.inf, None
        for form, (log_prob, cost, rank) in found.items():
            in_nbest = rank is not None
            zipf = self.zipf(form)
            score = log_prob + self.rerank_general * zipf - (self.rerank_unknown if zipf == 0 else 0.0)
            if in_nbest:
                model_best = max(model_best, log_prob)
            if cost is not None:
                score += (self.rerank_cheap_rule if cost <= 1.0 else 0.0) + (self.rerank_agree if in_nbest else 0.0)
                score -= self.rerank_rule_weight * cost
                if cost <= 1.0 and zipf > 0 and (cheapest is None or (cost, -zipf) < cheapest[0]):
                    cheapest = ((cost, -zipf), form)
            if score > best_score:
                best, best_score = form, score
        keep = dict(nbest).get(word, -math.inf)
        if cheapest is not None and keep + self.rerank_keep_margin >= model_best and not PHONETIC.search(word):
            best = cheapest[1]
        return best

    def zipf(self, form: str) -> float:
        """How common a form is in general Finnish (wordfreq's Zipf frequency; a phrase: its rarest word; 0: never
        seen; a clitic form wordfreq lacks: its base word's, one lower)."""
        return min((self._zipf_word(w) for w in form.split()), default=0.0)

    def _zipf_word(self, word: str) -> float:
        table = self._general
        if word in table:
            return table[word]
        for clitic in CLITICS:  # wordfreq lacks many clitic forms (`kauppahan`): the base word's, one lower
            if word.endswith(clitic) and len(word) > len(clitic) + 2 and word[: -len(clitic)] in table:
                return max(0.1, table[word[: -len(clitic)]] - 1.0)
        return 0.0

    @cached_property
    def _general(self) -> dict[str, float]:
        """The general frequencies, read on first use (≈ 0.1 s)."""
        if self.general_frequency is None:
            return {}
        table: dict[str, float] = {}
        with gzip.open(self.general_frequency, "rt", encoding="utf-8") as fh:
            for line in fh:  # a Zipf level × 10, then its word forms
                if not line.startswith("#"):
                    level, words = line.rstrip("\n").split("\t")
                    table.update(dict.fromkeys(words.split(" "), int(level) / 10))
        return table

    def _guessable(self, lower: str) -> bool:
        """A word form the lexicon, the standard vocabulary and the rules all leave as spoken."""
        return (
            len(lower) > 1
            and WORD_RE.match(lower) is not None
            and (PHONETIC.search(lower) is None or not self.dialect_rules or self.beam is not None)
            and lower not in self.lexicon
            and lower not in self.standard
            and lower not in self.english
            and not (self.voikko and voikko_accepts(lower))
            and (self.voikko or not self.is_known(lower))
        )

    def _acceptable(self, guess: str) -> bool:
        """A guess is kept only when it passes the check (a known Finnish word beats leaving it as spoken)."""
        if self.guess_check == "any":
            return True
        if self.voikko:
            return self.is_standard(guess)
        known = self.guess_check == "known"
        return all(w in self.standard or (known and self.is_known(w)) for w in guess.split())

    def is_standard(self, form: str) -> bool:
        """Every word of ``form`` is a standard word form (Voikko accepts it, or the standard vocabulary has it)."""
        words = form.lower().split()
        return bool(words) and all(w in self.standard or (self.voikko and voikko_accepts(w)) for w in words)

    def _normalise_sentence(self, tokens: list[str]) -> list[str]:
        lower = [t.lower() for t in tokens]
        out = []
        for i, token in enumerate(tokens):
            chosen = None
            if i + 1 < len(tokens):
                chosen = self.context.get(("next", lower[i + 1], lower[i]))
            if chosen is None and i > 0:
                chosen = self.context.get(("prev", lower[i - 1], lower[i]))
            if chosen is None and i > 0 and out[i - 1].lower() != lower[i - 1]:
                # the neighbour's standard form decides when its spoken form is not in the table (mä oon: minä → olen)
                chosen = self.context.get(("prev", out[i - 1].lower(), lower[i]))
            usual = self.lexicon.get(lower[i]) if chosen is None and self.standard_context else None
            if usual is not None and i > 0:
                # by standard forms: after `ennen`, a word usually read `kun` (ko, ku, kon) is `kuin`
                chosen = self.context.get(("prevstd", out[i - 1].lower(), usual))
            if usual is not None and chosen is None and i + 1 < len(tokens):
                chosen = self.context.get(("nextstd", self.lexicon.get(lower[i + 1], lower[i + 1]), usual))
            if chosen is None and lower[i] in COMPARISON_PARTICLES and i > 0 and COMPARATIVE.search(out[i - 1].lower()):
                chosen = "kuin"  # isompi ko minä: a comparative before `ko` makes it `kuin`
            out.append(_restore_case(token, chosen) if chosen else _normalise_cached(self, token))
        return connegatives(tokens, out)

    def _normalise(self, token: str, defer: bool = True) -> str:
        """The lexicon's and the rules' standard form of a token; with ``defer`` a form that only the rules would
        rewrite is left for ``_rerank`` (when the learned model's n-best is there)."""
        if not WORD_RE.match(token):
            return token
        lower = token.lower()
        mapped = self.lexicon.get(lower)
        if mapped is None and lower in self.english:
            return token
        if mapped is None and self.dialect_rules and PHONETIC.search(lower):
            # δ and ə: the first standard-letter spelling whose normalisation is a standard word, else the first
            # (with the learned model's n-best: those spellings compete in ``_rerank``)
            if defer and self.beam is not None and len(lower) > 1:
                return token
            variants = [self._normalise(v, defer=False) for v in phonetic_variants(lower)]
            return _restore_case(token, next((v for v in variants if self.is_standard(v)), variants[0]))
        # a standard word that SKN speakers also used for another word (`sano` for `sanoi`): only frequent
        # evidence rewrites it
        count = self.lexicon_counts.get(lower, 0)
        if mapped is not None and mapped != lower and lower in self.standard and count < self.standard_rewrite_count:
            return token
        if mapped == lower or (mapped is None and lower in self.standard):
            return token
        accepted = self.voikko and voikko_accepts(lower)  # only now: a Voikko call costs more than a set look-up
        if mapped is not None and accepted and (
            count < self.voikko_rewrite_share * self.spoken_counts.get(lower, count)
        ):
            return token
        if mapped is None and accepted:
            return token
        if mapped is None and self.voikko and self.is_known(lower):
            # known to simplemma, not to Voikko: a colloquial form (`katotaan`); a rewrite Voikko accepts wins
            mapped = self._candidate(lower, max_cost=self.colloquial_max_cost)
            if mapped is None:
                return token
        if mapped is None and self.protect_known and self.is_known(lower):
            # simplemma also knows colloquial forms (`katotaan`): a cheap rewrite into the strict standard
            # vocabulary still wins; anything else known stays as it is
            mapped = self._candidate(lower, max_cost=1.0, strict=True)
            if mapped is None:
                return token
        if mapped is None and defer and self.beam is not None and len(lower) > 1:
            return token  # the reranker weighs the rules' rewrites against the learned model's n-best
        if mapped is None:
            mapped = self._candidate(lower)
        elif self.lexicon_counts.get(lower, 2) < self.weak_pair_count and mapped != lower:
            # a pair seen once is weak evidence: a cheap rule rewrite to a known word wins over it when general
            # Finnish uses that word clearly more (``weak_pair_margin`` on wordfreq's Zipf scale)
            rewrite = self._candidate(lower, max_cost=1.0)
            if rewrite is not None and self.zipf(rewrite) >= self.zipf(mapped) + self.weak_pair_margin:
                mapped = rewrite
        if mapped is None or mapped == lower:
            return token
        return _restore_case(token, mapped)

    def candidates(self, word: str) -> list[tuple[float, str]]:
        """All rewrites of a word by one or two rule steps, cheapest first."""
        seen: dict[str, float] = {}
        frontier = [(0.0, word)]
        for _ in range(2):
            nxt = []
            for cost, form in frontier:
                for rule in (RULES + [_apocope] if self.apocope else RULES) if self.dialect_rules else FIRST_PASS_RULES:
                    for cand, c in rule(form):
                        total = cost + c
                        if cand != word and total < seen.get(cand, 99):
                            seen[cand] = total
                            nxt.append((total, cand))
                for cand, c in self._suffix_candidates(form):
                    total = cost + c
                    if cand != word and total < seen.get(cand, 99):
                        seen[cand] = total
                        nxt.append((total, cand))
            frontier = nxt
        return sorted((c, w) for w, c in seen.items())

    def _suffix_candidates(self, word: str) -> Iterable[tuple[str, float]]:
        index = self._suffix_index
        for k in range(1, min(len(word) - 1, self._suffix_max)):
            for dst, cost in index.get(word[-k:], ()):
                yield word[:-k] + dst, cost

    @cached_property
    def _suffix_index(self) -> dict[str, list[tuple[str, float]]]:
        """Suffix rules by the suffix they rewrite (a dictionary look-up per ending, not a scan of every rule)."""
        index: dict[str, list[tuple[str, float]]] = {}
        for src, dst, cost in self.suffix_rules:
            index.setdefault(src, []).append((dst, cost))
        return index

    @cached_property
    def _suffix_max(self) -> int:
        return max((len(src) for src, _, _ in self.suffix_rules), default=0) + 1

    def _candidate(self, word: str, max_cost: float = 99.0, strict: bool = False) -> str | None:
        best: tuple[float, str] | None = None
        for cost, cand in self.candidates(word):
            if cost > max_cost or (best is not None and cost - self._largest_bonus >= best[0]):
                break  # candidates come cheapest first: none further on can beat the best even with its bonus
            if cand in self.standard or (self.voikko and voikko_accepts(cand)):
                score = cost
            elif not strict and not self.voikko and self.is_known(cand):
                score = cost + 0.5
            else:
                continue
            score -= self.frequency_weight * math.log10(1 + self.frequency.get(cand, 0))
            if best is None or score < best[0]:
                best = (score, cand)
        return best[1] if best else None

    @cached_property
    def _largest_bonus(self) -> float:
        """The most a candidate's frequency can take off its cost."""
        return self.frequency_weight * math.log10(1 + max(self.frequency.values(), default=0))

    def is_known(self, word: str) -> bool:
        """A Finnish word: known as such or after taking off its clitic (-kin, -kaan, -han, ...)."""
        if self.known(word):
            return True
        for clitic in CLITICS:
            if word.endswith(clitic) and len(word) > len(clitic) + 2 and self.known(word[: -len(clitic)]):
                return True
        return False


# a negative verb takes the connegative: spoken "ei oo" is "ei ole", not "ei on"
NEGATIVE_VERBS = frozenset(
    neg + clitic
    for neg in ("en", "et", "ei", "emme", "ette", "eivät", "emmä", "etsä", "eikä", "älä", "älkää", "ellei", "jollei")
    for clitic in ("", "kä", "kö", "hän", "pä", "s")
) | {"emmää", "emmie", "etsie", "etkää", "eikse", "eiks", "eks", "eihän", "eipä", "enkä", "etkä", "eikö", "eivätkä"}
CONNEGATIVE = {
    "on": "ole", "olen": "ole", "olet": "ole", "olemme": "ole", "olette": "ole", "ovat": "ole", "olee": "ole",
    "tulee": "tule", "menee": "mene", "tekee": "tee", "näkee": "näe", "pitää": "pidä", "tietää": "tiedä",
    "tarvitsee": "tarvitse", "jaksaa": "jaksa", "haluaa": "halua", "kannattaa": "kannata", "muistaa": "muista",
    "viitsii": "viitsi", "saa": "saa", "voi": "voi", "ymmärtää": "ymmärrä", "käy": "käy", "auta": "auta",
}
SPOKEN_CONNEGATIVE = {"oo": "ole", "tuu": "tule", "mee": "mene", "tiiä": "tiedä", "tie": "tiedä", "pie": "pidä"}
COMPARISON_PARTICLES = frozenset({"ko", "ku", "kö"})
COMPARATIVE = re.compile(r"(mpi|mpa[a]?|mpä[ä]?|mmin|mman|mmän|mpana|mpänä|mpia|mpiä|mpien)$")
WORD_CHARS = re.compile(r"\w")


def connegatives(spoken: list[str], normalised: list[str], window: int = 2) -> list[str]:
    """After a negative verb (up to two words back, no punctuation between) a present-tense verb form the
    normaliser made (``oo`` → ``on``) becomes the connegative (``ole``)."""
    lower = [t.lower() for t in spoken]
    out = list(normalised)
    for i, form in enumerate(normalised):
        wanted = SPOKEN_CONNEGATIVE.get(lower[i])
        if wanted is None and form.lower() != lower[i]:  # a word spoken as written stays as it is
            wanted = CONNEGATIVE.get(form.lower())
        if wanted is None or wanted == form.lower():
            continue
        for j in range(i - 1, max(-1, i - 1 - window), -1):
            if not WORD_CHARS.search(lower[j]):
                break  # punctuation ends the clause
            if lower[j] in NEGATIVE_VERBS or normalised[j].lower().split()[:1] in (["ei"], ["en"], ["et"]):
                if lower[j] == "et" and not _second_person_negation(lower, j, i):
                    break  # `et` is mostly `että` (et se om: että se on)
                out[i] = _restore_case(form, wanted)
                if lower[j] == "et" and out[j].lower() == "että":  # "et sä oo": the negative verb, not `että`
                    out[j] = spoken[j]
                break
    return out


SECOND_PERSON = frozenset({"sä", "sää", "sie", "sinä", "sinää", "säkään", "säkin", "siekään", "sinäkään", "te"})


def _second_person_negation(lower: list[str], j: int, i: int) -> bool:
    """`et` at ``j`` is the negative verb for the word at ``i``: a second-person pronoun stands between them (`et
    sä oo`), or the spoken connegative follows at once (`et oo`)."""
    between = lower[j + 1 : i]
    return any(w in SECOND_PERSON for w in between) or (not between and lower[i] in SPOKEN_CONNEGATIVE)


CLITICS = ("kaan", "kään", "kin", "han", "hän", "pa", "pä", "ko", "kö", "s")


@lru_cache(maxsize=200_000)
def _normalise_cached(normaliser: Normaliser, token: str, defer: bool = True) -> str:
    return normaliser._normalise(token, defer)


def _restore_case(original: str, mapped: str) -> str:
    if original.isupper() and len(original) > 1:
        return mapped.upper()
    if original[:1].isupper():
        return mapped[:1].upper() + mapped[1:]
    return mapped
