/*
 * The coroutine context switch of green/coro.c, for x86-64 (SysV) and
 * aarch64 (AAPCS64). A context is nothing but a stack pointer: switching
 * pushes the callee-saved registers on the current stack, stores the stack
 * pointer, loads the other one and pops the same frame off it, so the C
 * caller sees an ordinary function call that returns later. A fresh
 * coroutine's stack is given such a frame by coro.c, whose return address is
 * gn__ctx_trampoline: that calls gn__coro_entry(co) with CO taken from a
 * callee-saved register and a 16-byte aligned stack. When coro.c uses
 * ucontext instead (GN_CORO_UCONTEXT, or any other architecture), this file
 * assembles to nothing but the stack note. Keep the condition below in step
 * with CORO_ASM in coro.c.
 */
#include "config.h"

#if !defined(GN_CORO_UCONTEXT) && defined(__ELF__) && !defined(__ILP32__) &&  \
    (defined(__x86_64__) || defined(__aarch64__))

#if defined(__x86_64__)

/*
 * void gn__ctx_switch(void **from_sp, void *to_sp)    rdi, rsi
 *
 * The frame, lowest address first (64 bytes, so the saved stack pointer is
 * 16-byte aligned): MXCSR (4 bytes) and the x87 control word (2 + 2 spare)
 * as boost.context keeps them, r15, r14, r13, r12, rbx, rbp, return address.
 */
    .text
    .globl  gn__ctx_switch
    .hidden gn__ctx_switch
    .type   gn__ctx_switch, @function
    .p2align 4
gn__ctx_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    leaq    -8(%rsp), %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)

    movq    %rsp, (%rdi)
    movq    %rsi, %rsp

    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    leaq    8(%rsp), %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    popq    %r14
    .cfi_adjust_cfa_offset -8
    popq    %r13
    .cfi_adjust_cfa_offset -8
    popq    %r12
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    ret
    .cfi_endproc
    .size   gn__ctx_switch, .-gn__ctx_switch

/*
 * Where a fresh coroutine's first switch returns to: the stack pointer is
 * the (page-aligned) top of its stack, r12 holds the coroutine, rbp is 0 so
 * frame-pointer walks stop here. gn__coro_entry never returns.
 */
    .globl  gn__ctx_trampoline
    .hidden gn__ctx_trampoline
    .type   gn__ctx_trampoline, @function
    .p2align 4
gn__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r12, %rdi
    call    gn__coro_entry@PLT
    ud2
    .cfi_endproc
    .size   gn__ctx_trampoline, .-gn__ctx_trampoline

#elif defined(__aarch64__)

/*
 * void gn__ctx_switch(void **from_sp, void *to_sp)    x0, x1
 *
 * The frame, lowest address first (160 bytes, keeping sp 16-byte aligned):
 * x19-x28, x29 (frame pointer), x30 (return address), d8-d15.
 */
    .text
    .globl  gn__ctx_switch
    .hidden gn__ctx_switch
    .type   gn__ctx_switch, %function
    .p2align 2
gn__ctx_switch:
    .cfi_startproc
    sub     sp, sp, #160
    .cfi_adjust_cfa_offset 160
    stp     x19, x20, [sp, #0]
    stp     x21, x22, [sp, #16]
    stp     x23, x24, [sp, #32]
    stp     x25, x26, [sp, #48]
    stp     x27, x28, [sp, #64]
    stp     x29, x30, [sp, #80]
    stp     d8, d9, [sp, #96]
    stp     d10, d11, [sp, #112]
    stp     d12, d13, [sp, #128]
    stp     d14, d15, [sp, #144]

    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1

    ldp     x19, x20, [sp, #0]
    ldp     x21, x22, [sp, #16]
    ldp     x23, x24, [sp, #32]
    ldp     x25, x26, [sp, #48]
    ldp     x27, x28, [sp, #64]
    ldp     x29, x30, [sp, #80]
    ldp     d8, d9, [sp, #96]
    ldp     d10, d11, [sp, #112]
    ldp     d12, d13, [sp, #128]
    ldp     d14, d15, [sp, #144]
    add     sp, sp, #160
    .cfi_adjust_cfa_offset -160
    ret
    .cfi_endproc
    .size   gn__ctx_switch, .-gn__ctx_switch

/*
 * Where a fresh coroutine's first switch returns to (through x30): sp is
 * the (page-aligned) top of its stack, x19 holds the coroutine, x29 is 0 so
 * frame-pointer walks stop here. gn__coro_entry never returns.
 */
    .globl  gn__ctx_trampoline
    .hidden gn__ctx_trampoline
    .type   gn__ctx_trampoline, %function
    .p2align 2
gn__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x19
    bl      gn__coro_entry
    brk     #0
    .cfi_endproc
    .size   gn__ctx_trampoline, .-gn__ctx_trampoline

#endif /* __aarch64__ */
#endif /* the assembly switch */

/* No executable stack for the program: this object does not need one. */
#if defined(__ELF__)
#if defined(__x86_64__) || defined(__i386__)
    .section .note.GNU-stack, "", @progbits
#else
    .section .note.GNU-stack, "", %progbits
#endif
#endif
