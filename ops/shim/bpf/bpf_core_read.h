/* SPDX-License-Identifier: GPL-2.0 */
/* Nothing of libbpf's CO-RE reads is used natively. */
