/*
 * libFuzzer target for the model.json loader (sao_model_card_from_json): it may reject any input
 * but never crash, leak or read out of bounds, and a card it accepts must write back as JSON
 * that it accepts again and that then stays the same through another round.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes `card` and reads it back into `again` (initialized here); aborts when either fails. */
static char *round_trip(const sao_model_card *card, sao_model_card *again)
{
    char *text = NULL;
    if (sao_model_card_to_json(&text, card) != 0) abort();
    sao_model_card_init(again);
    if (sao_model_card_from_json(again, text, strlen(text)) != 0) abort();
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        sao_log_set_level(SAO_LOG_OFF);
        ready = 1;
    }
    /* An exact-size heap copy without a terminator, so that a read past the end is caught. */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);

    sao_model_card card;
    sao_model_card_init(&card);
    if (sao_model_card_from_json(&card, text, size) == 0) {
        /* The first write may normalize (a seed's spelling, an integer written as a real); from
         * then on the text is a fixed point. */
        sao_model_card once, twice;
        char *first = round_trip(&card, &once);
        char *second = round_trip(&once, &twice);
        if (strcmp(first, second) != 0) abort();
        sao_free(first);
        sao_free(second);
        sao_model_card_dispose(&once);
        sao_model_card_dispose(&twice);
        if (card.eval) {
            /* The stored table prints whatever its values. */
            FILE *sink = fopen("/dev/null", "w");
            if (sink) {
                sao_eval_result_print(card.eval, sink);
                fclose(sink);
            }
        }
        sao_model_card_dispose(&card);
    }
    free(text);
    return 0;
}
