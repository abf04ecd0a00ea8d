"""Words of the public pages in French and English, and choosing the visitor's language."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("fr", "en")

STRINGS: dict[str, dict[str, str]] = {
    "unsubscribe_title": {"fr": "Se désabonner", "en": "Unsubscribe"},
    "unsubscribe_intro": {"fr": "Vous ne souhaitez plus recevoir nos e-mails à l'adresse {email} ?",
                          "en": "No longer want our emails at {email}?"},
    "unsubscribe_button": {"fr": "Me désabonner des e-mails", "en": "Unsubscribe me from emails"},
    "unsubscribed_title": {"fr": "C'est fait", "en": "Done"},
    "unsubscribed_text": {"fr": "Vous ne recevrez plus nos e-mails marketing. Vous pouvez changer d'avis ici "
                                "à tout moment.",
                          "en": "You will not receive our marketing emails any more. You can change your mind "
                                "here at any time."},
    "unsubscribed_all_text": {"fr": "Vous ne recevrez plus aucun message marketing de notre part.",
                              "en": "You will not receive any marketing message from us any more."},
    "preferences_title": {"fr": "Vos préférences", "en": "Your preferences"},
    "channels_legend": {"fr": "Comment pouvons-nous vous contacter ?", "en": "How may we contact you?"},
    "topics_legend": {"fr": "Sujets qui vous intéressent", "en": "Topics you are interested in"},
    "channel_email": {"fr": "E-mail", "en": "Email"},
    "channel_sms": {"fr": "SMS", "en": "Text messages (SMS)"},
    "channel_mail": {"fr": "Courrier postal", "en": "Postal mail"},
    "topic_newsletter": {"fr": "Lettre d'information", "en": "Newsletter"},
    "topic_offers": {"fr": "Offres et promotions", "en": "Offers and promotions"},
    "topic_events": {"fr": "Événements et webinaires", "en": "Events and webinars"},
    "pause_label": {"fr": "Faire une pause", "en": "Take a break"},
    "pause_none": {"fr": "Pas de pause", "en": "No break"},
    "pause_weeks": {"fr": "{n} semaines", "en": "{n} weeks"},
    "paused_until": {"fr": "Pause jusqu'au {date}.", "en": "Paused until {date}."},
    "save_button": {"fr": "Enregistrer mes préférences", "en": "Save my preferences"},
    "saved_title": {"fr": "Préférences enregistrées", "en": "Preferences saved"},
    "saved_text": {"fr": "Merci, vos choix sont pris en compte.", "en": "Thank you, your choices are saved."},
    "nothing_changed": {"fr": "Rien n'a changé.", "en": "Nothing changed."},
    "unsubscribe_all_button": {"fr": "Me désabonner de tout", "en": "Unsubscribe from everything"},
    "back_to_preferences": {"fr": "Revenir à mes préférences", "en": "Back to my preferences"},
    "invalid_link_title": {"fr": "Lien invalide", "en": "Invalid link"},
    "invalid_link_text": {"fr": "Ce lien n'est pas valide ou n'est plus actif.",
                          "en": "This link is not valid or no longer active."},
    "confirmed_title": {"fr": "Inscription confirmée", "en": "Subscription confirmed"},
    "confirmed_text": {"fr": "Merci ! Votre inscription est confirmée.", "en": "Thank you! Your subscription is "
                                                                              "confirmed."},
    "already_text": {"fr": "Votre inscription était déjà confirmée.", "en": "Your subscription was already "
                                                                           "confirmed."},
    "not_pending_text": {"fr": "Ce lien de confirmation n'est plus valable.",
                         "en": "This confirmation link is no longer valid."},
    "thanks_title": {"fr": "Merci !", "en": "Thank you!"},
    "thanks_text": {"fr": "Nous avons bien reçu votre demande.", "en": "We have received your request."},
    "thanks_confirm": {"fr": "Un e-mail de confirmation vient de vous être envoyé : cliquez sur le lien qu'il "
                             "contient pour confirmer votre inscription.",
                       "en": "We have just sent you a confirmation email: click the link inside to confirm your "
                             "subscription."},
    "errors_title": {"fr": "Merci de corriger les erreurs ci-dessous", "en": "Please correct the errors below"},
    "submit": {"fr": "Envoyer", "en": "Send"},
    "required": {"fr": "obligatoire", "en": "required"},
    "too_many": {"fr": "Trop de demandes. Réessayez dans une minute.",
                 "en": "Too many requests. Please try again in a minute."},
    "not_found_title": {"fr": "Page introuvable", "en": "Page not found"},
    "privacy_note": {"fr": "Vos données sont traitées conformément à notre politique de confidentialité.",
                     "en": "Your data is processed according to our privacy policy."},
    "survey_page_of": {"fr": "Page {n} sur {total}", "en": "Page {n} of {total}"},
    "survey_resumed": {"fr": "Vous reprenez là où vous vous étiez arrêté : vos réponses précédentes sont gardées.",
                       "en": "You are picking up where you stopped: your earlier answers are kept."},
    "survey_next": {"fr": "Enregistrer et continuer", "en": "Save and continue"},
    "survey_finish": {"fr": "Envoyer mes réponses", "en": "Send my answers"},
    "survey_back": {"fr": "Page précédente", "en": "Previous page"},
    "survey_saved_note": {"fr": "Chaque page est enregistrée quand vous l'envoyez : le même lien vous ramène ici.",
                          "en": "Each page is saved when you send it: the same link brings you back here."},
    "survey_other_detail": {"fr": "Précisez (autre)", "en": "Please specify (other)"},
    "survey_tapped": {"fr": "Merci, votre note est enregistrée. Encore quelques questions :",
                      "en": "Thank you, your score is saved. A few more questions:"},
    "survey_preselected": {"fr": "Vérifiez votre réponse puis envoyez la page.",
                           "en": "Check your answer, then send the page."},
    "survey_thanks_title": {"fr": "Merci !", "en": "Thank you!"},
    "survey_thanks_text": {"fr": "Vos réponses sont enregistrées.", "en": "Your answers are saved."},
    "survey_invalid_title": {"fr": "Lien de questionnaire invalide", "en": "Invalid survey link"},
    "survey_invalid_text": {"fr": "Ce lien n'est pas valide : il a peut-être été mal copié. Rien n'a été enregistré.",
                            "en": "This link is not valid: it may have been copied incompletely. Nothing was saved."},
    "survey_expired_title": {"fr": "Lien expiré", "en": "Link expired"},
    "survey_expired_text": {"fr": "Ce lien de questionnaire a expiré. Rien n'a été enregistré.",
                            "en": "This survey link has expired. Nothing was saved."},
    "survey_closed_title": {"fr": "Questionnaire clos", "en": "Survey closed"},
    "survey_closed_text": {"fr": "Ce questionnaire est terminé et n'accepte plus de réponses. Merci de votre intérêt.",
                           "en": "This survey has ended and takes no more answers. Thank you for your interest."},
    "survey_error_required": {"fr": "une réponse est nécessaire", "en": "an answer is needed"},
    "survey_error_out_of_range": {"fr": "choisissez une valeur de {low} à {high}",
                                  "en": "choose a value from {low} to {high}"},
    "survey_error_unknown_choice": {"fr": "choisissez une des réponses proposées",
                                    "en": "choose one of the answers offered"},
    "survey_error_other_missing": {"fr": "précisez votre réponse « autre »", "en": "please specify your \"other\""},
    "survey_error_too_long": {"fr": "{n} caractères au plus", "en": "{n} characters at most"},
    "survey_error_too_few": {"fr": "choisissez au moins {n} réponses", "en": "choose at least {n} answers"},
    "survey_error_too_many": {"fr": "choisissez au plus {n} réponses", "en": "choose at most {n} answers"},
    "survey_error_rows_missing": {"fr": "répondez pour chaque ligne", "en": "answer every row"},
}


def pick_language(preferred: str | None, accept_language: str | None, default: str) -> str:
    """The contact's language when we know it, else the browser's, else the default (fr or en)."""
    for candidate in (preferred, *_accepted(accept_language), default):
        code = (candidate or "")[:2].lower()
        if code in LANGUAGES:
            return code
    return "fr"


def _accepted(header: str | None) -> list[str]:
    if not header:
        return []
    ranked = []
    for part in header.split(","):
        name, _, quality = part.strip().partition(";q=")
        try:
            ranked.append((float(quality or 1), name.strip()))
        except ValueError:
            continue
    return [name for _, name in sorted(ranked, key=lambda item: -item[0])]


def translator(language: str) -> Callable[..., str]:
    """`t(key, **values)` in `language` (the key itself when missing, so a gap is visible, never a crash)."""

    def t(key: str, **values: object) -> str:
        texts = STRINGS.get(key)
        if texts is None:
            return key
        return (texts.get(language) or texts["en"]).format(**values)

    return t
